-- The table Kamailio's acc module writes one CDR per call into (acc + dialog, cdr_enable), through
-- db_sqlite. start_time, end_time and duration are acc's own columns; every other column is an
-- extra one (cdr_extra in kamailio.cfg) and nullable: acc leaves out what the call never set.
-- `cdrstore follow kamailio` reads the rows in the order of `id`.
--
-- WAL: the follower reads while Kamailio writes without either waiting (db_sqlite sets no busy
-- timeout, so a write that meets a lock is lost). The mode stays with the file.
PRAGMA journal_mode=WAL;

CREATE TABLE IF NOT EXISTS cdrs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_time TEXT NOT NULL,      -- UTC, 'YYYY-MM-DD HH:MM:SS' (acc time_mode 4)
    end_time TEXT NOT NULL,        -- UTC; a failed call's end is its start: see reply_time
    duration REAL NOT NULL DEFAULT 0,
    call_id TEXT,                  -- the INVITE's Call-ID
    caller TEXT,                   -- user part of the INVITE's From
    callee TEXT,                   -- user part of the INVITE's Request-URI
    src_ip TEXT,                   -- where the INVITE came from
    sip_code TEXT,                 -- the final reply's status code (200 when answered)
    sip_reason TEXT,               -- the final reply's reason phrase
    ring_time TEXT,                -- first 180/183, seconds since the epoch (UTC), microseconds
    answer_time TEXT,              -- the 2xx, seconds since the epoch
    reply_time TEXT,               -- the final reply (any code), seconds since the epoch
    bye_by TEXT,                   -- 'caller' or 'callee': who sent the BYE
    bye_reason TEXT,               -- the BYE's Reason header
    cancelled TEXT                 -- '1' when the caller cancelled the INVITE
);
