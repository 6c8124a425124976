// A later step of a job using node-postgres with DATABASE_URL only: prints the first column of
// the first row of argv[2], or the driver's error (exit 1).
const { Client } = require('pg');

(async () => {
  const client = new Client({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 10000 });
  try {
    await client.connect();
    const result = await client.query({ text: process.argv[2], rowMode: 'array' });
    console.log(String(result.rows[0][0]));
  } finally {
    await client.end().catch(() => {});
  }
})().catch((e) => {
  console.error(`node-postgres: ${e.code ? `${e.code}: ` : ''}${e.message}`);
  process.exit(1);
});
