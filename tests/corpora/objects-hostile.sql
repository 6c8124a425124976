-- Statements against protected objects, functions named by reference, dynamic SQL, other
-- servers, server files and the session's settings: each must be refused by a default rule
-- (SQLSTATE 42501). One statement per line; schema as in tests/e2e/card_data.rs, protected
-- table `cards`. Read by policy::rules' unit tests and tests/e2e/card_data.rs.
-- Unbounded writes of a protected table, wherever they hide.
DELETE FROM cards
DELETE FROM cards WHERE true
DELETE FROM cards WHERE 1 = 1
DELETE FROM cards WHERE id = id
DELETE FROM cards WHERE id > 0 OR true
DELETE FROM public.cards
DELETE FROM cards USING orders
WITH x AS (DELETE FROM cards RETURNING *) SELECT count(*) FROM x
WITH x AS (DELETE FROM cards RETURNING 1) INSERT INTO loot (id) SELECT 1 FROM x LIMIT 1
PREPARE wipe AS DELETE FROM cards
EXPLAIN ANALYZE DELETE FROM cards
UPDATE cards SET pan = '0'
UPDATE cards SET holder = 'x' WHERE true
UPDATE cards c SET holder = 'x' FROM orders o
WITH u AS (UPDATE cards SET holder = 'x' RETURNING 1) SELECT 1
MERGE INTO cards c USING orders o ON true WHEN MATCHED THEN DELETE
MERGE INTO cards c USING orders o ON c.id = o.card_id WHEN MATCHED THEN UPDATE SET holder = 'x'
DO $$ BEGIN DELETE FROM cards; END $$
DO $$ BEGIN UPDATE cards SET pan = NULL; END $$
CREATE FUNCTION wipe() RETURNS void LANGUAGE sql AS 'DELETE FROM cards'
CREATE FUNCTION wipe2() RETURNS void BEGIN ATOMIC DELETE FROM cards; END
CREATE PROCEDURE wipe3() LANGUAGE plpgsql AS $$ BEGIN UPDATE cards SET holder = NULL; END $$
-- Renames, moves, ownership, triggers, rules and policies on a protected table.
ALTER TABLE cards RENAME TO c2
ALTER TABLE public.cards RENAME TO c2
ALTER TABLE IF EXISTS cards RENAME TO c2
ALTER TABLE cards RENAME COLUMN pan TO p
ALTER TABLE cards RENAME CONSTRAINT cards_pkey TO k
ALTER TABLE cards SET SCHEMA pg_temp
ALTER TABLE cards OWNER TO CURRENT_USER
ALTER VIEW cards RENAME TO c2
ALTER INDEX cards RENAME TO c2
ALTER SEQUENCE cards RENAME TO c2
CREATE TRIGGER t AFTER INSERT ON cards FOR EACH ROW EXECUTE FUNCTION f()
CREATE TRIGGER t BEFORE UPDATE ON public.cards FOR EACH ROW EXECUTE PROCEDURE f()
CREATE CONSTRAINT TRIGGER t AFTER INSERT ON cards FOR EACH ROW EXECUTE FUNCTION f()
CREATE RULE r AS ON INSERT TO cards DO ALSO NOTIFY x
CREATE OR REPLACE RULE r AS ON UPDATE TO cards DO INSTEAD NOTHING
CREATE POLICY p ON cards USING (true)
ALTER POLICY p ON cards USING (true)
-- Cascades and whole-role drops.
DROP TABLE cards CASCADE
DROP TABLE orders CASCADE
DROP SEQUENCE orders_id_seq CASCADE
DROP FUNCTION f() CASCADE
DROP SCHEMA public CASCADE
DROP OWNED BY CURRENT_USER
DROP OWNED BY CURRENT_USER CASCADE
REASSIGN OWNED BY CURRENT_USER TO postgres
TRUNCATE orders CASCADE
ALTER TABLE orders DROP COLUMN note CASCADE
-- Functions named without being called.
CREATE OPERATOR public.### (RIGHTARG = text, FUNCTION = pg_catalog.pg_read_file)
CREATE OPERATOR === (LEFTARG = text, RIGHTARG = text, PROCEDURE = pg_read_file)
CREATE AGGREGATE agg(text) (SFUNC = dblink_exec, STYPE = text)
CREATE AGGREGATE agg2 (BASETYPE = text, SFUNC = pg_read_file, STYPE = text)
CREATE CAST (int AS text) WITH FUNCTION pg_read_file(text)
CREATE TYPE t2 (INPUT = pg_read_file, OUTPUT = textout)
-- SQL built at run time.
CREATE FUNCTION g(q text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE q; END $$
DO $$ BEGIN EXECUTE 'DROP ' || 'TABLE cards'; END $$
DO $$ DECLARE q text := 'select 1'; BEGIN EXECUTE q; END $$
CREATE FUNCTION h() RETURNS SETOF record LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY EXECUTE 'SELECT ' || 'pan FROM cards'; END $$
DO $$ DECLARE r record; BEGIN FOR r IN EXECUTE 'SELECT ' || '1' LOOP END LOOP; END $$
SELECT query_to_xml('SELECT pan FROM cards', true, true, '')
SELECT query_to_xml(current_setting('x.q'), true, true, '')
-- Other servers and server files.
CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw
CREATE USER MAPPING FOR CURRENT_USER SERVER s
IMPORT FOREIGN SCHEMA public FROM SERVER s INTO public
CREATE FOREIGN TABLE ft (x int) SERVER s
CREATE FOREIGN DATA WRAPPER w
SELECT dblink_connect('host=127.0.0.1')
SELECT public.dblink_exec('host=127.0.0.1', 'DROP TABLE cards')
COPY orders FROM '/etc/passwd'
COPY orders TO '/tmp/hoop-orders'
COPY (SELECT 1) TO '/tmp/hoop-one'
COPY orders FROM PROGRAM 'id'
DO $$ BEGIN COPY orders TO PROGRAM 'id'; END $$
SELECT pg_read_file('/etc/passwd')
SELECT pg_catalog.pg_read_binary_file('/etc/passwd')
SELECT lo_create(0)
SELECT lo_creat(-1)
SELECT lo_import('/etc/passwd')
SELECT lo_from_bytea(0, '\x00')
SELECT pg_ls_dir('.')
-- The session's encoding and role.
SELECT set_config('client_encoding', 'SJIS', false)
SELECT pg_catalog.set_config('CLIENT_ENCODING', 'SJIS', false)
SELECT set_config('client_encoding'::text, 'SJIS', false)
SELECT set_config($$client_encoding$$, 'SJIS', false)
SELECT set_config(lower('CLIENT_ENCODING'), 'SJIS', false)
SELECT set_config(current_setting('x.y'), 'SJIS', false)
SELECT set_config($1, 'SJIS', false)
SELECT set_config('role', 'postgres', false)
SELECT set_config('session_authorization', 'postgres', false)
SET client_encoding = 'SJIS'
SET LOCAL client_encoding TO 'BIG5'
SET SESSION client_encoding = 'GBK'
SET "client_encoding" = 'SJIS'
RESET client_encoding
SET NAMES 'GBK'
ALTER ROLE CURRENT_USER SET client_encoding = 'SJIS'
ALTER DATABASE postgres SET client_encoding = 'SJIS'
CREATE FUNCTION e() RETURNS int LANGUAGE sql SET client_encoding = 'SJIS' AS 'SELECT 1'
DO $$ BEGIN PERFORM set_config('client_encoding', 'SJIS', false); END $$
DO $$ BEGIN SET client_encoding = 'SJIS'; END $$
SET ROLE postgres
RESET ROLE
SET SESSION AUTHORIZATION postgres
ALTER SYSTEM SET fsync = off
-- Grants, also where they hide.
ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC
GRANT SELECT ON cards TO PUBLIC
CREATE ROLE evil LOGIN
SELECT set_config(name, 'SJIS', false) FROM pg_settings WHERE name = 'client_encoding'
SELECT set_config(name, 'SJIS', false) FROM pg_settings WHERE name LIKE 'client%'
SELECT set_config(name, 'SJIS', false) FROM pg_settings WHERE name = 'search_path' OR name = 'client_encoding'
SELECT set_config(s.name, 'SJIS', false) FROM (SELECT 'client_encoding' AS name) s
-- The same, hidden in bodies and other spellings.
DO $$ BEGIN ALTER TABLE cards RENAME TO c2; END $$
DO $$ BEGIN EXECUTE 'ALTER TABLE cards RENAME TO c2'; END $$
CREATE PROCEDURE p() LANGUAGE sql BEGIN ATOMIC DELETE FROM cards; END
EXPLAIN ANALYZE UPDATE cards SET pan = '0'
PREPARE p2 AS UPDATE cards SET pan = $1
TRUNCATE ONLY cards
TRUNCATE TABLE public.cards RESTART IDENTITY
DROP TABLE IF EXISTS cards
DROP TABLE orders, cards
ALTER TABLE IF EXISTS ONLY cards RENAME COLUMN pan TO pan2
ALTER TABLE cards ALTER COLUMN pan TYPE bigint USING reverse(pan)::bigint
CREATE TABLE evil () INHERITS (cards)
CREATE TABLE evil2 PARTITION OF cards DEFAULT
WITH d AS (DELETE FROM cards WHERE true RETURNING id) SELECT 1
UPDATE cards SET holder = 'x' WHERE id = id OR true
COPY cards FROM PROGRAM 'id'
