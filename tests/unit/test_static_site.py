"""The files a port serves without a credential (billing_common/http_site.py StaticSite): only
the site's own files, never a path out of its folder or its installed packages."""

from __future__ import annotations

from pathlib import Path

from billing_common.http_site import StaticSite


def site(tmp_path: Path) -> StaticSite:
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "index.html").write_text("<html></html>")
    (tmp_path / "page" / "node_modules").mkdir()
    (tmp_path / "page" / "node_modules" / "x.js").write_text("x")
    (tmp_path / "secret.key").write_text("secret")
    return StaticSite("/portal/", tmp_path / "page", {"config.json": b"{}"})


def test_the_prefix_serves_the_index_and_generated_files(tmp_path: Path) -> None:
    served = site(tmp_path)
    index = served.answer("/portal/")
    assert index is not None
    assert (index.status, index.content_type, index.body) == (
        200,
        "text/html; charset=utf-8",
        b"<html></html>",
    )
    config = served.answer("/portal/config.json")
    assert config is not None and config.body == b"{}"
    bare = served.answer("/portal")
    assert bare is not None and bare.status == 308
    assert served.answer("/billing.ledger.v1.LedgerService/GetBalance") is None


def test_paths_out_of_the_folder_or_into_node_modules_are_not_found(tmp_path: Path) -> None:
    served = site(tmp_path)
    for path in ("/portal/../secret.key", "/portal/node_modules/x.js", "/portal/missing.js"):
        answer = served.answer(path)
        assert answer is not None and answer.status == 404, path
