-- Run once by the postgres image on first start: each service has its own database.
CREATE DATABASE rating OWNER billing;
