-- Schema 1: installation, master data, operators and the operation log.
-- Everything in this file survives "clear all customer data" (F6.5).
-- Money is integer fen, energy integer 0.01 kWh, prices integer 0.0001 yuan/kWh; STRICT tables
-- refuse a REAL in an INTEGER column, so a float cannot slip into the ledger.

PRAGMA application_id = 1347438423;  -- 'PPGW': how restore and open recognise our files

-- F1.2 feeder lines
CREATE TABLE lines (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
  description TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL
) STRICT;

-- F1.3 meter boxes / cabinets on a line, with how the gateway reaches their meters
CREATE TABLE boxes (
  id INTEGER PRIMARY KEY,
  line_id INTEGER NOT NULL REFERENCES lines(id),
  name TEXT NOT NULL CHECK (length(trim(name)) > 0),
  meter_count INTEGER NOT NULL DEFAULT 0 CHECK (meter_count >= 0),
  comm_mode TEXT NOT NULL CHECK (comm_mode IN ('rs485', 'remote')),
  bus TEXT NOT NULL DEFAULT '',
  baud INTEGER NOT NULL DEFAULT 2400
    CHECK (baud IN (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)),
  parity TEXT NOT NULL DEFAULT 'E' CHECK (parity IN ('N', 'E', 'O')),
  description TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  UNIQUE (line_id, name)
) STRICT;
CREATE INDEX boxes_line ON boxes(line_id);

-- F5.6 meter models: protocol, who holds the wallet, money or energy, and how to talk to them
CREATE TABLE meter_types (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
  protocol TEXT NOT NULL CHECK (protocol IN ('dlt645-2007', 'dlt645-1997')),
  wallet_model TEXT NOT NULL CHECK (wallet_model IN ('meter', 'gateway')),
  value_kind TEXT NOT NULL CHECK (value_kind IN ('money', 'energy')),
  phases INTEGER NOT NULL CHECK (phases IN (1, 3)),
  profile TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(profile)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE meters (
  id INTEGER PRIMARY KEY,
  address TEXT NOT NULL UNIQUE
    CHECK (length(address) = 12 AND address NOT GLOB '*[^0-9]*'),
  meter_number TEXT NOT NULL DEFAULT '',
  box_id INTEGER REFERENCES boxes(id),
  type_id INTEGER NOT NULL REFERENCES meter_types(id),
  position INTEGER,
  state TEXT NOT NULL DEFAULT 'installed'
    CHECK (state IN ('stock', 'installed', 'removed', 'faulty')),
  note TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX meters_box ON meters(box_id);
CREATE INDEX meters_type ON meters(type_id);
CREATE INDEX meters_number ON meters(meter_number);

-- F5.1 price types; each edit is a new effective-dated version (sales point at the version)
CREATE TABLE price_types (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
  description TEXT NOT NULL DEFAULT '',
  archived INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
  created_at TEXT NOT NULL
) STRICT;

CREATE TABLE price_versions (
  id INTEGER PRIMARY KEY,
  price_type_id INTEGER NOT NULL REFERENCES price_types(id),
  version_no INTEGER NOT NULL CHECK (version_no >= 1),
  effective_from TEXT NOT NULL,
  tariff TEXT NOT NULL CHECK (json_valid(tariff)),
  source TEXT NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'cloud')),
  cloud_ref TEXT,
  created_at TEXT NOT NULL,
  UNIQUE (price_type_id, version_no),
  UNIQUE (price_type_id, cloud_ref)
) STRICT;
CREATE INDEX price_versions_effective ON price_versions(price_type_id, effective_from);

CREATE TRIGGER price_versions_no_update BEFORE UPDATE ON price_versions
BEGIN SELECT RAISE(ABORT, 'E309: price versions are append-only; add a new version'); END;
CREATE TRIGGER price_versions_no_delete BEFORE DELETE ON price_versions
BEGIN SELECT RAISE(ABORT, 'E309: price versions are append-only; archive the price type'); END;

-- F5.4 operators and permissions (the catalogue rows are synced from gateway/store/permissions.py)
CREATE TABLE permissions (
  code TEXT PRIMARY KEY,
  features TEXT NOT NULL,
  name_zh TEXT NOT NULL,
  name_en TEXT NOT NULL
) STRICT;

CREATE TABLE operators (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
  display_name TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  must_change_password INTEGER NOT NULL DEFAULT 1 CHECK (must_change_password IN (0, 1)),
  failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
  locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
  active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
  last_login_at TEXT,
  password_changed_at TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE operator_permissions (
  operator_id INTEGER NOT NULL REFERENCES operators(id),
  permission TEXT NOT NULL REFERENCES permissions(code),
  PRIMARY KEY (operator_id, permission)
) STRICT, WITHOUT ROWID;

-- F5.2 the operating company, printed on receipts (one row)
CREATE TABLE organisation (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  name TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '',
  tax_number TEXT NOT NULL DEFAULT '',
  bank TEXT NOT NULL DEFAULT '',
  bank_account TEXT NOT NULL DEFAULT '',
  contact TEXT NOT NULL DEFAULT '',
  extra TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(extra)),
  updated_at TEXT NOT NULL
) STRICT;

-- F5.3 the receipt layout (one row; the web UI owns the document's shape)
CREATE TABLE receipt_template (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  template TEXT NOT NULL CHECK (json_valid(template)),
  updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL CHECK (json_valid(value)),
  updated_at TEXT NOT NULL
) STRICT;

-- Counters that must never go backwards, not even after "clear all" (receipt numbers).
CREATE TABLE sequences (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL CHECK (value >= 0)
) STRICT;
INSERT INTO sequences (name, value) VALUES ('receipt', 0);
CREATE TRIGGER sequences_forward BEFORE UPDATE ON sequences WHEN NEW.value < OLD.value
BEGIN SELECT RAISE(ABORT, 'E309: sequences never go backwards'); END;
CREATE TRIGGER sequences_no_delete BEFORE DELETE ON sequences
BEGIN SELECT RAISE(ABORT, 'E309: sequences cannot be deleted'); END;

-- Holds a row only inside the one transaction that clears customer data or deletes log rows;
-- the append-only triggers let deletes through while it does. `db check` requires it empty.
CREATE TABLE maintenance_guard (
  name TEXT PRIMARY KEY CHECK (name IN ('clear_all', 'oplog_delete'))
) STRICT;

-- Head of each hash chain. base_* is where verification starts (moved by clear-all).
CREATE TABLE chain_heads (
  name TEXT PRIMARY KEY,
  base_id INTEGER NOT NULL,
  base_hash TEXT NOT NULL,
  last_id INTEGER NOT NULL,
  last_hash TEXT NOT NULL
) STRICT;
INSERT INTO chain_heads VALUES
  ('oplog', 0, '0000000000000000000000000000000000000000000000000000000000000000',
   0, '0000000000000000000000000000000000000000000000000000000000000000');

-- F6.3/F6.4 operation log, hash-chained: hash = sha256(prev_hash || '\n' || canonical row JSON)
CREATE TABLE oplog (
  id INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  operator_id INTEGER REFERENCES operators(id),
  operator_name TEXT NOT NULL,
  action TEXT NOT NULL CHECK (length(action) > 0),
  target TEXT NOT NULL DEFAULT '',
  detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  result TEXT NOT NULL DEFAULT 'ok' CHECK (result IN ('ok', 'error')),
  error_code TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
) STRICT;
CREATE INDEX oplog_time ON oplog(created_at);
CREATE INDEX oplog_operator_time ON oplog(operator_id, created_at);

CREATE TRIGGER oplog_chain BEFORE INSERT ON oplog
WHEN NEW.id IS NOT (SELECT last_id + 1 FROM chain_heads WHERE name = 'oplog')
  OR NEW.prev_hash IS NOT (SELECT last_hash FROM chain_heads WHERE name = 'oplog')
BEGIN SELECT RAISE(ABORT, 'E320: operation log row does not extend the chain'); END;
CREATE TRIGGER oplog_head AFTER INSERT ON oplog
BEGIN UPDATE chain_heads SET last_id = NEW.id, last_hash = NEW.hash WHERE name = 'oplog'; END;
CREATE TRIGGER oplog_no_update BEFORE UPDATE ON oplog
BEGIN SELECT RAISE(ABORT, 'E309: the operation log is append-only'); END;
CREATE TRIGGER oplog_no_delete BEFORE DELETE ON oplog
WHEN OLD.action = 'oplog.delete'
  OR NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'oplog_delete')
BEGIN SELECT RAISE(ABORT, 'E309: operation log rows are deleted only by log maintenance'); END;
