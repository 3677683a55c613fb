-- Schema 2: customers, accounts, vends and every money record.
-- Everything here is "customer data" for F6.5 (clear all), except the receipt sequence.
-- Money rows are append-only: triggers refuse UPDATE and DELETE. The only way through is the
-- clear-all transaction, which holds a 'clear_all' row in maintenance_guard while it deletes.

-- F2.1/F2.3 customers; current_account_id points at the newest account (open or closed)
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  number TEXT NOT NULL UNIQUE CHECK (length(trim(number)) > 0),
  name TEXT NOT NULL CHECK (length(trim(name)) > 0),
  phone TEXT NOT NULL DEFAULT '',
  address TEXT NOT NULL DEFAULT '',
  id_number TEXT NOT NULL DEFAULT '',
  note TEXT NOT NULL DEFAULT '',
  current_account_id INTEGER REFERENCES accounts(id),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX customers_name ON customers(name);
CREATE INDEX customers_phone ON customers(phone);
CREATE INDEX customers_current_account ON customers(current_account_id);

-- An account is one customer on one meter for a period; wallet model and value kind are copied
-- from the meter type when it opens (a later edit of the type does not change open accounts).
CREATE TABLE accounts (
  id INTEGER PRIMARY KEY,
  customer_id INTEGER NOT NULL REFERENCES customers(id),
  meter_id INTEGER NOT NULL REFERENCES meters(id),
  price_type_id INTEGER NOT NULL REFERENCES price_types(id),
  wallet_model TEXT NOT NULL CHECK (wallet_model IN ('meter', 'gateway')),
  value_kind TEXT NOT NULL CHECK (value_kind IN ('money', 'energy')),
  status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
  opened_at TEXT NOT NULL,
  closed_at TEXT,
  close_reason TEXT CHECK (close_reason IN ('refund', 'deregistered')),
  alarm1_fen INTEGER,
  alarm2_fen INTEGER,
  overdraft_limit_fen INTEGER CHECK (overdraft_limit_fen >= 0),
  hoarding_limit_fen INTEGER CHECK (hoarding_limit_fen >= 0),
  close_allowed_fen INTEGER,
  keep_power INTEGER NOT NULL DEFAULT 0 CHECK (keep_power IN (0, 1)),
  friendly_credit INTEGER NOT NULL DEFAULT 1 CHECK (friendly_credit IN (0, 1)),
  emergency_state TEXT NOT NULL DEFAULT 'none' CHECK (emergency_state IN ('none', 'active')),
  updated_at TEXT NOT NULL,
  CHECK ((status = 'open') = (closed_at IS NULL)),
  CHECK ((status = 'open') = (close_reason IS NULL))
) STRICT;
CREATE UNIQUE INDEX accounts_one_open_per_meter ON accounts(meter_id) WHERE status = 'open';
CREATE INDEX accounts_customer ON accounts(customer_id);
CREATE INDEX accounts_closed ON accounts(status, closed_at);

CREATE TRIGGER accounts_no_reopen BEFORE UPDATE OF status ON accounts
WHEN OLD.status = 'closed'
BEGIN SELECT RAISE(ABORT, 'E312: a closed account cannot be reopened; open a new one'); END;
CREATE TRIGGER accounts_owner_fixed BEFORE UPDATE OF customer_id ON accounts
WHEN NEW.customer_id IS NOT OLD.customer_id
BEGIN SELECT RAISE(ABORT, 'E309: an account cannot move to another customer'); END;
CREATE TRIGGER accounts_no_delete BEFORE DELETE ON accounts
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: accounts are closed, never deleted'); END;

-- The exactly-once state machine (DESIGN invariant 3), written before any byte goes out.
CREATE TABLE vends (
  id INTEGER PRIMARY KEY,
  idempotency_key TEXT NOT NULL UNIQUE CHECK (length(idempotency_key) > 0),
  kind TEXT NOT NULL CHECK (kind IN ('open', 'daily', 'replacement', 'refund', 'reset',
    'reclose', 'emergency', 'card_reissue', 'card_refund', 'card_meter_change')),
  channel TEXT NOT NULL CHECK (channel IN ('comm', 'card', 'gateway_wallet', 'cloud')),
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  meter_id INTEGER REFERENCES meters(id),
  operator_id INTEGER REFERENCES operators(id),
  amount_fen INTEGER NOT NULL,
  energy_cwh INTEGER NOT NULL DEFAULT 0,
  count_before INTEGER,
  count_target INTEGER,
  count_after INTEGER,
  state TEXT NOT NULL
    CHECK (state IN ('pending', 'sent', 'confirmed', 'failed', 'uncertain')),
  error TEXT,
  request TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(request)),
  result TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(result)),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX vends_unfinished ON vends(state) WHERE state IN ('pending', 'sent', 'uncertain');
CREATE INDEX vends_account ON vends(account_id, id);

-- Clustered by vend: a vend's history sits on one page (one page written per transition).
CREATE TABLE vend_events (
  vend_id INTEGER NOT NULL REFERENCES vends(id),
  seq INTEGER NOT NULL,
  from_state TEXT,
  to_state TEXT NOT NULL,
  at TEXT NOT NULL,
  error TEXT,
  PRIMARY KEY (vend_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER vends_start_pending BEFORE INSERT ON vends WHEN NEW.state <> 'pending'
BEGIN SELECT RAISE(ABORT, 'E307: a vend starts in state pending'); END;
CREATE TRIGGER vends_transition BEFORE UPDATE ON vends
WHEN OLD.state || '>' || NEW.state NOT IN (
  'pending>sent', 'pending>failed',
  'sent>confirmed', 'sent>failed', 'sent>uncertain',
  'uncertain>confirmed', 'uncertain>failed', 'uncertain>sent')
BEGIN SELECT RAISE(ABORT, 'E307: illegal vend state transition'); END;
CREATE TRIGGER vends_request_fixed BEFORE UPDATE ON vends
WHEN NEW.id IS NOT OLD.id OR NEW.idempotency_key IS NOT OLD.idempotency_key
  OR NEW.kind IS NOT OLD.kind OR NEW.channel IS NOT OLD.channel
  OR NEW.account_id IS NOT OLD.account_id OR NEW.meter_id IS NOT OLD.meter_id
  OR NEW.operator_id IS NOT OLD.operator_id
  OR NEW.amount_fen IS NOT OLD.amount_fen OR NEW.energy_cwh IS NOT OLD.energy_cwh
  OR NEW.count_before IS NOT OLD.count_before OR NEW.count_target IS NOT OLD.count_target
  OR NEW.request IS NOT OLD.request OR NEW.created_at IS NOT OLD.created_at
BEGIN SELECT RAISE(ABORT, 'E309: what a vend asked for cannot change'); END;
CREATE TRIGGER vends_no_delete BEFORE DELETE ON vends
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: vends are never deleted'); END;
CREATE TRIGGER vends_event_created AFTER INSERT ON vends
BEGIN
  INSERT INTO vend_events (vend_id, seq, from_state, to_state, at, error)
  VALUES (NEW.id, 0, NULL, NEW.state, NEW.created_at, NEW.error);
END;
CREATE TRIGGER vends_event_changed AFTER UPDATE OF state ON vends
BEGIN
  INSERT INTO vend_events (vend_id, seq, from_state, to_state, at, error)
  VALUES (NEW.id, (SELECT coalesce(max(seq), -1) + 1 FROM vend_events WHERE vend_id = NEW.id),
          OLD.state, NEW.state, NEW.updated_at, NEW.error);
END;
CREATE TRIGGER vend_events_no_update BEFORE UPDATE ON vend_events
BEGIN SELECT RAISE(ABORT, 'E309: vend events are append-only'); END;
CREATE TRIGGER vend_events_no_delete BEFORE DELETE ON vend_events
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: vend events are append-only'); END;

-- The ledger: every movement of value, hash-chained, never updated or deleted.
-- Sign convention: amount_fen and energy_cwh are the change of value held for the customer
-- (+ credited: sale, compensation, emergency credit; - debited: refund paid out, consumption,
-- fees, recoveries). remainder_fen, when set, is the money carried to the next purchase.
INSERT INTO chain_heads VALUES
  ('ledger', 0, '0000000000000000000000000000000000000000000000000000000000000000',
   0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE ledger (
  id INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  meter_id INTEGER REFERENCES meters(id),
  kind TEXT NOT NULL CHECK (kind IN ('sale', 'refund', 'adjustment', 'reversal', 'fee',
    'consumption_debit', 'compensation', 'emergency_credit', 'emergency_recovery',
    'friendly_debt', 'friendly_recovery', 'opening_balance')),
  amount_fen INTEGER NOT NULL,
  energy_cwh INTEGER NOT NULL DEFAULT 0,
  remainder_fen INTEGER CHECK (remainder_fen >= 0),
  tariff_version_id INTEGER REFERENCES price_versions(id),
  tariff_snapshot TEXT CHECK (tariff_snapshot IS NULL OR json_valid(tariff_snapshot)),
  vend_id INTEGER REFERENCES vends(id),
  refers_to INTEGER REFERENCES ledger(id),
  operator_id INTEGER REFERENCES operators(id),
  detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  CHECK (kind <> 'sale' OR (amount_fen > 0 AND tariff_version_id IS NOT NULL)),
  CHECK (kind <> 'consumption_debit' OR (amount_fen <= 0 AND tariff_version_id IS NOT NULL)),
  CHECK (kind NOT IN ('refund', 'fee', 'emergency_recovery', 'friendly_recovery')
         OR amount_fen <= 0),
  CHECK (kind NOT IN ('compensation', 'emergency_credit') OR amount_fen >= 0),
  CHECK (kind <> 'reversal' OR refers_to IS NOT NULL),
  CHECK ((tariff_version_id IS NULL) = (tariff_snapshot IS NULL))
) STRICT;
-- Covering for the sales query's date ranges, per-operator filters and totals (no row lookups).
CREATE INDEX ledger_kind_time ON ledger(kind, created_at, operator_id, amount_fen, energy_cwh);
CREATE INDEX ledger_account ON ledger(account_id, id);
CREATE INDEX ledger_vend ON ledger(vend_id) WHERE vend_id IS NOT NULL;

-- Derived per-account totals, kept by trigger, verified against the ledger by `db check`.
CREATE TABLE account_balances (
  account_id INTEGER PRIMARY KEY REFERENCES accounts(id),
  balance_fen INTEGER NOT NULL,
  energy_cwh INTEGER NOT NULL,
  purchased_fen INTEGER NOT NULL,
  purchased_cwh INTEGER NOT NULL,
  purchases INTEGER NOT NULL,
  remainder_fen INTEGER NOT NULL,
  entries INTEGER NOT NULL,
  last_entry_id INTEGER NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;

CREATE TRIGGER ledger_chain BEFORE INSERT ON ledger
WHEN NEW.id IS NOT (SELECT last_id + 1 FROM chain_heads WHERE name = 'ledger')
  OR NEW.prev_hash IS NOT (SELECT last_hash FROM chain_heads WHERE name = 'ledger')
BEGIN SELECT RAISE(ABORT, 'E320: ledger row does not extend the chain'); END;
CREATE TRIGGER ledger_after_insert AFTER INSERT ON ledger
BEGIN
  UPDATE chain_heads SET last_id = NEW.id, last_hash = NEW.hash WHERE name = 'ledger';
  INSERT INTO account_balances (account_id, balance_fen, energy_cwh, purchased_fen,
    purchased_cwh, purchases, remainder_fen, entries, last_entry_id, updated_at)
  VALUES (NEW.account_id, NEW.amount_fen, NEW.energy_cwh,
    CASE WHEN NEW.kind = 'sale' THEN NEW.amount_fen ELSE 0 END,
    CASE WHEN NEW.kind = 'sale' THEN NEW.energy_cwh ELSE 0 END,
    CASE WHEN NEW.kind = 'sale' THEN 1 ELSE 0 END,
    coalesce(NEW.remainder_fen, 0), 1, NEW.id, NEW.created_at)
  ON CONFLICT (account_id) DO UPDATE SET
    balance_fen = balance_fen + excluded.balance_fen,
    energy_cwh = energy_cwh + excluded.energy_cwh,
    purchased_fen = purchased_fen + excluded.purchased_fen,
    purchased_cwh = purchased_cwh + excluded.purchased_cwh,
    purchases = purchases + excluded.purchases,
    remainder_fen = coalesce(NEW.remainder_fen, remainder_fen),
    entries = entries + 1,
    last_entry_id = NEW.id,
    updated_at = NEW.created_at;
END;
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'E309: ledger rows are append-only; add a correcting row'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: ledger rows are append-only; add a correcting row'); END;

-- F3.4 receipts: the number is the key; numbers come from sequences('receipt'), never reused;
-- content is what was printed
CREATE TABLE receipts (
  number INTEGER PRIMARY KEY CHECK (number >= 1),
  kind TEXT NOT NULL
    CHECK (kind IN ('open', 'sale', 'refund', 'replacement', 'reissue', 'other')),
  account_id INTEGER REFERENCES accounts(id),
  vend_id INTEGER REFERENCES vends(id),
  ledger_id INTEGER REFERENCES ledger(id),
  operator_id INTEGER REFERENCES operators(id),
  content TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(content)),
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX receipts_account ON receipts(account_id, number);
CREATE INDEX receipts_ledger ON receipts(ledger_id) WHERE ledger_id IS NOT NULL;
CREATE INDEX receipts_time ON receipts(created_at);

CREATE TABLE receipt_prints (
  id INTEGER PRIMARY KEY,
  receipt_number INTEGER NOT NULL REFERENCES receipts(number),
  printed_at TEXT NOT NULL,
  operator_id INTEGER REFERENCES operators(id),
  copy INTEGER NOT NULL CHECK (copy IN (0, 1))
) STRICT;
CREATE INDEX receipt_prints_receipt ON receipt_prints(receipt_number);

-- F3.3 refund and close: what was read from the meter and how the payout was computed
CREATE TABLE refunds (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  vend_id INTEGER REFERENCES vends(id),
  ledger_id INTEGER NOT NULL REFERENCES ledger(id),
  meter_remaining_fen INTEGER NOT NULL DEFAULT 0,
  meter_remaining_cwh INTEGER NOT NULL DEFAULT 0,
  unloaded_fen INTEGER NOT NULL DEFAULT 0 CHECK (unloaded_fen >= 0),
  overdraft_fen INTEGER NOT NULL DEFAULT 0 CHECK (overdraft_fen >= 0),
  fee_fen INTEGER NOT NULL DEFAULT 0 CHECK (fee_fen >= 0),
  refund_fen INTEGER NOT NULL,
  valuation TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(valuation)),
  operator_id INTEGER REFERENCES operators(id),
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX refunds_account ON refunds(account_id);
CREATE INDEX refunds_time ON refunds(created_at);

-- F4.1 meter replacement with the compensation carried from the old meter
CREATE TABLE replacements (
  id INTEGER PRIMARY KEY,
  account_id INTEGER NOT NULL REFERENCES accounts(id),
  old_meter_id INTEGER NOT NULL REFERENCES meters(id),
  new_meter_id INTEGER NOT NULL REFERENCES meters(id),
  vend_id INTEGER REFERENCES vends(id),
  compensation_fen INTEGER NOT NULL DEFAULT 0 CHECK (compensation_fen >= 0),
  compensation_cwh INTEGER NOT NULL DEFAULT 0 CHECK (compensation_cwh >= 0),
  old_meter_state TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(old_meter_state)),
  compensation_ledger_id INTEGER REFERENCES ledger(id),
  sale_ledger_id INTEGER REFERENCES ledger(id),
  operator_id INTEGER REFERENCES operators(id),
  created_at TEXT NOT NULL,
  CHECK (old_meter_id <> new_meter_id)
) STRICT;
CREATE INDEX replacements_account ON replacements(account_id);
CREATE INDEX replacements_time ON replacements(created_at);

-- F2.2/F2.10 every card the gateway wrote; a reissue supersedes the account's earlier user cards
CREATE TABLE card_issues (
  id INTEGER PRIMARY KEY,
  card_serial TEXT NOT NULL CHECK (length(card_serial) > 0),
  kind TEXT NOT NULL CHECK (kind IN ('user_open', 'user_purchase', 'user_reissue',
    'user_replacement', 'settings', 'query', 'reset', 'relay', 'refund', 'meter_change',
    'clear')),
  account_id INTEGER REFERENCES accounts(id),
  vend_id INTEGER REFERENCES vends(id),
  replaces_id INTEGER REFERENCES card_issues(id),
  superseded INTEGER NOT NULL DEFAULT 0 CHECK (superseded IN (0, 1)),
  operator_id INTEGER REFERENCES operators(id),
  detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),
  created_at TEXT NOT NULL
) STRICT;
CREATE INDEX card_issues_account ON card_issues(account_id, id);
CREATE INDEX card_issues_serial ON card_issues(card_serial);
CREATE INDEX card_issues_kind_time ON card_issues(kind, created_at);

-- Append-only detail records.
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'E309: receipts are append-only'); END;
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: receipts are append-only'); END;
CREATE TRIGGER receipt_prints_no_update BEFORE UPDATE ON receipt_prints
BEGIN SELECT RAISE(ABORT, 'E309: receipt prints are append-only'); END;
CREATE TRIGGER receipt_prints_no_delete BEFORE DELETE ON receipt_prints
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: receipt prints are append-only'); END;
CREATE TRIGGER refunds_no_update BEFORE UPDATE ON refunds
BEGIN SELECT RAISE(ABORT, 'E309: refunds are append-only'); END;
CREATE TRIGGER refunds_no_delete BEFORE DELETE ON refunds
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: refunds are append-only'); END;
CREATE TRIGGER replacements_no_update BEFORE UPDATE ON replacements
BEGIN SELECT RAISE(ABORT, 'E309: replacements are append-only'); END;
CREATE TRIGGER replacements_no_delete BEFORE DELETE ON replacements
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: replacements are append-only'); END;
CREATE TRIGGER card_issues_only_supersede BEFORE UPDATE ON card_issues
WHEN NOT (OLD.superseded = 0 AND NEW.superseded = 1
  AND NEW.id IS OLD.id AND NEW.card_serial IS OLD.card_serial AND NEW.kind IS OLD.kind
  AND NEW.account_id IS OLD.account_id AND NEW.vend_id IS OLD.vend_id
  AND NEW.replaces_id IS OLD.replaces_id AND NEW.operator_id IS OLD.operator_id
  AND NEW.detail IS OLD.detail AND NEW.created_at IS OLD.created_at)
BEGIN SELECT RAISE(ABORT, 'E309: a card issue can only be marked superseded'); END;
CREATE TRIGGER card_issues_no_delete BEFORE DELETE ON card_issues
WHEN NOT EXISTS (SELECT 1 FROM maintenance_guard WHERE name = 'clear_all')
BEGIN SELECT RAISE(ABORT, 'E309: card issues are append-only'); END;
