-- The same table as cdrs.sql, for Kamailio writing through db_postgres
-- (modparam("acc", "db_url", "postgres://USER:PASSWORD@HOST/DB") and loadmodule "db_postgres.so"
-- instead of db_sqlite). Read by `cdrstore follow kamailio --source postgresql://USER@HOST/DB`.
-- Not exercised with a real Kamailio by cdrstore's tests (only the SQLite path is); the follower's
-- reading of it is.
CREATE TABLE IF NOT EXISTS cdrs (
    id SERIAL PRIMARY KEY,
    start_time TIMESTAMP WITHOUT TIME ZONE NOT NULL,  -- UTC with time_mode 4
    end_time TIMESTAMP WITHOUT TIME ZONE NOT NULL,
    duration REAL NOT NULL DEFAULT 0,
    call_id VARCHAR(255),
    caller VARCHAR(64),
    callee VARCHAR(64),
    src_ip VARCHAR(64),
    sip_code VARCHAR(3),
    sip_reason VARCHAR(128),
    ring_time VARCHAR(32),
    answer_time VARCHAR(32),
    reply_time VARCHAR(32),
    bye_by VARCHAR(8),
    bye_reason VARCHAR(255),
    cancelled VARCHAR(1)
);
