# A later step of a job using psycopg (3) or psycopg2, both libpq, with DATABASE_URL only:
# `probe.py psycopg|psycopg2 <sql>` prints the first column of the first row, or the driver's
# error (exit 1).
import importlib
import os
import sys

driver = importlib.import_module(sys.argv[1])

try:
    conn = driver.connect(os.environ["DATABASE_URL"], connect_timeout=10)
    try:
        cur = conn.cursor()
        cur.execute(sys.argv[2])
        print(cur.fetchone()[0])
    finally:
        conn.close()
except driver.Error as e:
    print(f"{sys.argv[1]}: {e}".strip(), file=sys.stderr)
    sys.exit(1)
