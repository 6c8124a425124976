# A later step of a job using psycopg2 (libpq) with DATABASE_URL only: prints the first column of
# the first row of argv[1], or the driver's error (exit 1).
import os
import sys

import psycopg2

try:
    with psycopg2.connect(os.environ["DATABASE_URL"], connect_timeout=10) as conn:
        with conn.cursor() as cur:
            cur.execute(sys.argv[1])
            print(cur.fetchone()[0])
    conn.close()
except psycopg2.Error as e:
    print(f"psycopg2: {e}".strip(), file=sys.stderr)
    sys.exit(1)
