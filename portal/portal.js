// The customer page: one wallet's balance, history, usage chart, alerts and top-ups, read
// through the ledger's and the rating service's HTTP/JSON (Connect) ports with customer-scoped
// read keys. The keys and the wallet come from the address's fragment (#wallet=…&key=…&
// rating_key=…; never sent to a server) or from the form, which writes that fragment.
// Amounts are shown as the decimal strings the API returns: never turned into floats.

const LEDGER = "billing.ledger.v1.LedgerService";
const RATING = "billing.rating.v1.RatingService";
const $ = (selector) => document.querySelector(selector);

async function call(base, service, method, body, key) {
  const answer = await fetch(`${base}/${service}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(`${method}: ${data.message || answer.statusText}`);
  return data;
}

const day = new Intl.DateTimeFormat("en", { month: "short", day: "numeric", timeZone: "UTC" });
const when = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });
const words = (unit) => (unit === "CREDITS" || !unit ? "credits" : unit.toLowerCase());
const signed = (amount) => (amount.startsWith("-") ? amount : `+${amount}`);
const isZero = (amount) => /^-?0*(\.0*)?$/.test(amount);
const label = (name) => name.replace(/^[A-Z_]+?_(?=[A-Z]+$)/, "").toLowerCase();

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

// "-10 credits for Report Generation on Aug 27": usage by its feature (the meter), other
// entries by the ledger's own description.
export function describe(entry, unit) {
  const on = day.format(new Date(entry.occurredTime));
  const what = entry.feature || entry.description || "usage";
  if (entry.type === "ENTRY_TYPE_DEBIT") return `${signed(entry.amount)} ${words(unit)} for ${what} on ${on}`;
  if (entry.type === "ENTRY_TYPE_REFUND") return `${signed(entry.amount)} ${words(unit)} refunded for ${what} on ${on}`;
  return entry.description || `${signed(entry.amount)} ${words(unit)} (${label(entry.type)}) on ${on}`;
}

function showBalance(balance, unit) {
  $("#available").textContent = balance.available;
  $(".unit").textContent = words(unit);
  const parts = [
    ["Prepaid", balance.prepaidAvailable],
    ["Promotional", balance.promotionalAvailable],
    ["Held", balance.held],
    ["Overage owed", balance.overage],
    ["Net", balance.net],
    ["Expiring (past due)", balance.pendingExpiry],
    ["Not yet effective", balance.pendingGrants],
  ];
  const soon = Date.now() + 7 * 24 * 3600 * 1000;
  const expiring = balance.grants.filter((g) => g.expireTime && Date.parse(g.expireTime) < soon);
  for (const grant of expiring) {
    parts.push([`Expires ${day.format(new Date(grant.expireTime))}`, grant.remaining]);
  }
  const list = $("#breakdown");
  list.replaceChildren();
  for (const [name, value] of parts) {
    if (value === undefined) continue;
    const item = element("div");
    item.append(element("dt", name), element("dd", value));
    list.append(item);
  }
}

function showHistory(entries, unit) {
  const rows = entries.map((entry) => {
    const row = element("tr");
    row.dataset.entryId = entry.entryId;
    row.append(
      element("td", when.format(new Date(entry.occurredTime))),
      element("td", describe(entry, unit)),
      element("td", signed(entry.amount), `num ${entry.amount.startsWith("-") ? "neg" : "pos"}`),
      element("td", entry.availableAfter, "num"),
    );
    return row;
  });
  if (rows.length === 0) rows.push(element("tr", "No activity yet."));
  $("#history tbody").replaceChildren(...rows);
}

function showList(selector, items, empty) {
  const lines = items.map((text) => element("li", text));
  $(selector).replaceChildren(...(lines.length ? lines : [element("li", empty, "muted")]));
}

function showAlertsAndTopUps(rules, topUps, unit) {
  showList(
    "#alerts",
    rules.map((r) => {
      const at = r.kind === "ALERT_KIND_PERCENT" ? `${r.threshold}% left` : `${r.threshold} ${words(unit)}`;
      const condition = r.kind === "ALERT_KIND_DEPLETED" ? "when nothing is left" : `below ${at}`;
      return `${r.name || label(r.kind)}: ${condition}, ${r.armed ? "armed" : "fired (re-arms after a top-up)"}`;
    }),
    "No alerts set.",
  );
  showList(
    "#topups",
    topUps.map((t) => `${signed(t.amount)} ${words(unit)}, ${label(t.state)}, ${when.format(new Date(t.createTime))}`),
    "No top-ups.",
  );
}

// One dataset per meter of the customer's plan (the lines of this period's invoice; the
// catalogue is shared, so other meters may count the same events), one bar per day of the
// billing period (quantities are counts for a chart, not money).
async function showUsage(ratingUrl, ratingKey, customerId) {
  const note = $("#usage-note");
  if (!ratingKey) {
    note.textContent = "Usage needs a rating key (rating_key in the address).";
    return;
  }
  const { invoice } = await call(ratingUrl, RATING, "GetInvoice", { customerId }, ratingKey);
  const meters = new Map(invoice.lines.map((line) => [line.meterId, line.description.split(" (")[0]]));
  const usages = await Promise.all(
    [...meters].map(([meterId, name]) =>
      call(ratingUrl, RATING, "GetUsage", { customerId, meterId, granularity: "GRANULARITY_DAY" }, ratingKey)
        .then((usage) => ({ name, usage })),
    ),
  );
  const days = [...new Set(usages.flatMap(({ usage }) => usage.series.map((p) => p.startTime)))].sort();
  const datasets = usages
    .filter(({ usage }) => usage.series.length > 0)
    .map(({ name, usage }) => {
      const byDay = new Map(usage.series.map((p) => [p.startTime, Number(p.quantity)]));
      return { label: name, data: days.map((d) => byDay.get(d) ?? 0) };
    });
  const canvas = $("#usage-chart");
  canvas.dataset.points = String(datasets.reduce((n, d) => n + d.data.filter((v) => v > 0).length, 0));
  note.textContent = datasets.length ? "" : "No usage in this billing period yet.";
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: days.map((d) => day.format(new Date(d))), datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
  });
}

function setUpBuying(topUpUrl, wallet) {
  if (!topUpUrl) return; // no checkout configured (the ledger's portal_topup_url)
  const form = $("#buy");
  form.action = topUpUrl;
  form.elements.wallet_id.value = wallet.walletId;
  form.elements.customer_id.value = wallet.customerId;
  form.hidden = false;
}

function askForKeys() {
  const form = $("#sign-in");
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const given = new URLSearchParams(new FormData(form));
    for (const [name, value] of [...given]) if (!value) given.delete(name);
    location.hash = given.toString();
    location.reload();
  });
}

async function main() {
  const params = new URLSearchParams(location.hash.slice(1));
  const walletId = params.get("wallet");
  const key = params.get("key");
  if (!walletId || !key) return askForKeys();
  const config = await (await fetch("config.json")).json();
  const ratingUrl = params.get("rating") || config.ratingUrl;
  try {
    const { wallet } = await call(location.origin, LEDGER, "GetWallet", { walletId }, key);
    $("#wallet-line").textContent = `Customer ${wallet.customerId} · wallet ${wallet.walletId}`;
    const [{ balance }, { entries }, { rules }, { topUps }] = await Promise.all([
      call(location.origin, LEDGER, "GetBalance", { walletId }, key),
      call(location.origin, LEDGER, "ListEntries", { walletId, pageSize: 50 }, key),
      call(location.origin, LEDGER, "ListAlertRules", { walletId }, key),
      call(location.origin, LEDGER, "ListTopUps", { walletId, pageSize: 20 }, key),
    ]);
    showBalance(balance, wallet.unit);
    showHistory(entries, wallet.unit);
    showAlertsAndTopUps(rules, topUps, wallet.unit);
    setUpBuying(config.topUpUrl, wallet);
    $("#content").hidden = false;
    await showUsage(ratingUrl, params.get("rating_key"), wallet.customerId);
    document.body.dataset.loaded = "true";
  } catch (error) {
    $("#error").textContent = `Could not load your credits: ${error.message}`;
    $("#error").hidden = false;
    document.body.dataset.loaded = "error";
  }
}

main();
