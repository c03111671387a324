// `npm run db:check`: fails when a schema and its migrations disagree — src/db/schema.ts and migrations/shard/
// (every shard database), src/db/control/schema.ts and migrations/control/ (the control database). Three checks each:
// 1. migrations/meta/_journal.json lists exactly the migrations/*.sql files (drizzle-kit's record of them).
// 2. schema.ts has no change without a migration: drizzle-kit generate, run on a throw-away copy of
//    migrations/, would write nothing.
// 3. The database the migrations build (every migrations/*.sql in name order, as wrangler applies them) is
//    the one schema.ts describes (the SQL drizzle-kit generates from schema.ts on an empty folder): same
//    tables, columns, types, NOT NULL, defaults, keys, foreign keys, CHECKs and indexes (partial ones too).
//    This catches a hand-edited or hand-written .sql file, which check 2 cannot see. What drizzle cannot
//    declare (FTS5 virtual tables and their triggers) lives in src/db/*.sql, applied after schema.ts's SQL:
//    the migrations must create the same virtual tables and triggers, statement for statement.
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const drizzleKit = path.join(projectRoot, "node_modules", ".bin", "drizzle-kit");
const FIX = "Change the schema, then run `npm run db:generate` and commit both (README: Changing the schema).";

// Two databases, each with its schema and its migrations (docs/scaling.md): every shard gets the shard's.
const DATABASES = [
  { name: "shard", schemaPath: path.join(projectRoot, "src", "db", "schema.ts"), migrationsDir: path.join(projectRoot, "migrations", "shard") },
  { name: "control", schemaPath: path.join(projectRoot, "src", "db", "control", "schema.ts"), migrationsDir: path.join(projectRoot, "migrations", "control") },
];

const problems = [];
for (const database of DATABASES) check(database);

if (problems.length > 0) {
  console.error("db:check: a schema and its migrations disagree.\n");
  for (const problem of problems) console.error(`- ${problem}\n`);
  console.error(FIX);
  process.exit(1);
}
console.log("db:check: src/db/schema.ts ↔ migrations/shard/ and src/db/control/schema.ts ↔ migrations/control/ agree (no pending migration; same tables, columns, keys, checks, indexes).");

function check({ name, schemaPath, migrationsDir }) {
  const rel = (file) => path.relative(projectRoot, file);
  const work = mkdtempSync(path.join(tmpdir(), `edge-inbox-db-check-${name}-`));
  try {
    const sqlFiles = readdirSync(migrationsDir).filter((file) => file.endsWith(".sql")).sort();

    // 1. The journal and the files.
    const journal = JSON.parse(readFileSync(path.join(migrationsDir, "meta", "_journal.json"), "utf8"));
    const tags = journal.entries.map((entry) => `${entry.tag}.sql`);
    for (const file of sqlFiles) if (!tags.includes(file)) problems.push(`${rel(migrationsDir)}/${file} is not in its meta/_journal.json (was it written by hand?)`);
    for (const tag of tags) if (!sqlFiles.includes(tag)) problems.push(`${rel(migrationsDir)}/meta/_journal.json lists ${tag}, which is not there`);

    // 2. drizzle-kit generate on a copy of the migrations (drizzle-kit reads snapshots relative to its working directory).
    cpSync(migrationsDir, path.join(work, "copy", "migrations"), { recursive: true });
    const pending = drizzleGenerate(schemaPath, path.join(work, "copy"), "migrations");
    const written = readdirSync(path.join(work, "copy", "migrations")).filter((file) => !sqlFiles.includes(file) && file !== "meta");
    if (written.length > 0) {
      const sql = written.filter((file) => file.endsWith(".sql")).map((file) => readFileSync(path.join(work, "copy", "migrations", file), "utf8"));
      problems.push(`${rel(schemaPath)} has changes that no migration makes; drizzle-kit generate would write ${written.join(", ")}:\n${indent(sql.join("\n"))}`);
    } else if (/Interactive prompts require a TTY/.test(pending)) {
      problems.push(`${rel(schemaPath)} has changes that no migration makes, and drizzle-kit must ask whether a table or column was renamed or replaced: run \`npm run db:generate\` in a terminal`);
    } else if (!/No schema changes/.test(pending)) {
      problems.push(`drizzle-kit generate did not say "No schema changes":\n${indent(pending)}`);
    }

    // 3. The database the migrations build against the one the schema describes.
    drizzleGenerate(schemaPath, path.join(work, "fresh"), "migrations");
    const freshDir = path.join(work, "fresh", "migrations");
    // What drizzle cannot declare (FTS5 virtual tables, triggers) is raw SQL beside the schema, applied after it.
    const rawSchema = readdirSync(path.dirname(schemaPath)).filter((file) => file.endsWith(".sql")).sort().map((file) => path.join(path.dirname(schemaPath), file));
    const fromSchema = describe([...readdirSync(freshDir).filter((file) => file.endsWith(".sql")).map((file) => path.join(freshDir, file)), ...rawSchema]);
    const fromMigrations = describe(sqlFiles.map((file) => path.join(migrationsDir, file)));
    for (const difference of compare(fromMigrations, fromSchema)) problems.push(`${name}: ${difference}`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function drizzleGenerate(schemaPath, cwd, out) {
  const result = spawnSync(drizzleKit, ["generate", "--dialect", "sqlite", "--schema", schemaPath, "--out", out, "--name", "db_check"], {
    cwd: ensureDir(cwd),
    encoding: "utf8",
  });
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0) {
    console.error(`db:check: drizzle-kit generate failed (exit ${result.status}):\n${output}`);
    process.exit(1);
  }
  return output;
}

function ensureDir(dir) {
  mkdirSync(dir, { recursive: true });
  return dir;
}

function indent(text) {
  return text.trim().split("\n").map((line) => `    ${line}`).join("\n");
}

/** Applies the SQL files in order to an empty SQLite database and describes what they built. */
function describe(files) {
  const db = new DatabaseSync(":memory:");
  for (const file of files) db.exec(readFileSync(file, "utf8"));
  const all = db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
  // A virtual table (FTS5) and its shadow tables are compared as the statement that created them, with the triggers.
  const virtual = all.filter((table) => /^CREATE VIRTUAL TABLE/i.test(table.sql ?? "")).map((table) => table.name);
  const shadow = (name) => virtual.some((owner) => name.startsWith(`${owner}_`));
  const tables = all.filter((table) => !virtual.includes(table.name) && !shadow(table.name));
  const described = {};
  for (const { name, sql } of db.prepare("SELECT name, sql FROM sqlite_master WHERE (type = 'trigger' OR (type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%')) ORDER BY name").all()) {
    described[`raw ${name}`] = { raw: normalizeSql(sql) };
  }
  for (const { name, sql } of tables) {
    const pk = db.prepare(`PRAGMA table_xinfo("${name}")`).all().filter((column) => column.pk > 0);
    const rowidAlias = pk.length === 1 && pk[0].type.toLowerCase() === "integer";
    described[name] = {
      columns: db.prepare(`PRAGMA table_xinfo("${name}")`).all().map((column) => ({
        name: column.name,
        type: column.type.toLowerCase(),
        // An INTEGER PRIMARY KEY is the rowid: never NULL, with or without NOT NULL.
        notNull: column.notnull === 1 || (rowidAlias && column.pk > 0),
        default: normalizeDefault(column.dflt_value),
        primaryKey: column.pk,
      })),
      autoincrement: /\bAUTOINCREMENT\b/i.test(sql),
      foreignKeys: db.prepare(`PRAGMA foreign_key_list("${name}")`).all().map((fk) => `(${fk.from}) REFERENCES ${fk.table}(${fk.to}) ON UPDATE ${fk.on_update} ON DELETE ${fk.on_delete}`).sort(),
      checks: checksOf(sql).sort(),
      indexes: db.prepare(`PRAGMA index_list("${name}")`).all().filter((index) => index.origin === "c").map((index) => {
        const columns = db.prepare(`PRAGMA index_xinfo("${index.name}")`).all().filter((column) => column.key === 1);
        const indexSql = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?").get(index.name).sql;
        const where = /\bWHERE\b([\s\S]*)$/i.exec(indexSql)?.[1];
        return `${index.unique ? "UNIQUE " : ""}INDEX ${index.name} (${columns.map((column) => `${column.name}${column.desc ? " DESC" : ""}`).join(", ")})${where ? ` WHERE ${normalizeSql(where)}` : ""}`;
      }).sort(),
    };
  }
  db.close();
  return described;
}

/** SQLite stores a default as written: DEFAULT true and DEFAULT 1 are the same value. */
function normalizeDefault(value) {
  if (value === null) return null;
  const lowered = value.toLowerCase();
  if (lowered === "true") return "1";
  if (lowered === "false") return "0";
  return value.replace(/^\((.*)\)$/, "$1");
}

function normalizeSql(text) {
  return text.replace(/[`"]/g, "").replace(/;\s*$/, "").replace(/\s+/g, " ").replace(/\(\s+/g, "(").replace(/\s+\)/g, ")").trim().toLowerCase();
}

/** The CHECK (…) expressions of a CREATE TABLE statement, normalized. */
function checksOf(createSql) {
  const checks = [];
  const pattern = /\bCHECK\s*\(/gi;
  let match;
  while ((match = pattern.exec(createSql))) {
    let depth = 1;
    let end = pattern.lastIndex;
    for (; end < createSql.length && depth > 0; end += 1) {
      if (createSql[end] === "(") depth += 1;
      if (createSql[end] === ")") depth -= 1;
    }
    checks.push(normalizeSql(createSql.slice(pattern.lastIndex, end - 1)));
  }
  return checks;
}

function compare(migrations, schema) {
  const differences = [];
  const where = "migrations/*.sql build";
  const says = "src/db/schema.ts says";
  for (const table of Object.keys(migrations)) if (!(table in schema)) differences.push(`table ${table}: ${where} it; ${says} nothing of it`);
  for (const table of Object.keys(schema)) if (!(table in migrations)) differences.push(`table ${table}: ${says} it exists; ${where} no such table`);
  for (const table of Object.keys(migrations).filter((name) => name in schema)) {
    const a = migrations[table];
    const b = schema[table];
    if ("raw" in a || "raw" in b) {
      if (a.raw !== b.raw) differences.push(`${table.replace("raw ", "")}: ${where}\n${indent(a.raw ?? "")}\n    while src/db/*.sql says\n${indent(b.raw ?? "")}`);
      continue;
    }
    const columnsA = a.columns.map((column) => JSON.stringify(column));
    const columnsB = b.columns.map((column) => JSON.stringify(column));
    if (columnsA.join("\n") !== columnsB.join("\n")) {
      differences.push(`table ${table}, columns (in order):\n    ${where}:\n${indent(columnsA.join("\n"))}\n    ${says}:\n${indent(columnsB.join("\n"))}`);
    }
    if (a.autoincrement !== b.autoincrement) differences.push(`table ${table}: AUTOINCREMENT ${a.autoincrement} in migrations, ${b.autoincrement} in schema.ts`);
    for (const kind of ["foreignKeys", "checks", "indexes"]) {
      const onlyA = a[kind].filter((item) => !b[kind].includes(item));
      const onlyB = b[kind].filter((item) => !a[kind].includes(item));
      for (const item of onlyA) differences.push(`table ${table}: ${where} ${item}; schema.ts does not`);
      for (const item of onlyB) differences.push(`table ${table}: ${says} ${item}; migrations do not build it`);
    }
  }
  return differences;
}
