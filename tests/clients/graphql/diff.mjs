// graphql-inspector's diff of the schema the running server serves (by introspection) against a
// schema file (docs/schema.graphql): prints the changes as JSON, one per line; exits 1 if any.
import { readFileSync } from "node:fs";
import { buildClientSchema, buildSchema, getIntrospectionQuery } from "graphql";
import { diff } from "@graphql-inspector/core";

const [url, key, file] = [process.env.GRAPHQL_URL, process.env.GRAPHQL_KEY, process.argv[2]];
const answer = await fetch(url, {
  method: "POST",
  headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
  body: JSON.stringify({ query: getIntrospectionQuery() }),
});
const body = await answer.json();
if (!body.data) {
  console.error(JSON.stringify(body));
  process.exit(2);
}
// The spec's own directives are not part of our schema: graphql-js 16 here and graphql-core 3.3 on
// the server implement different editions of them (@deprecated's reason is String! in the newer).
const BUILT_IN = /^@(deprecated|include|skip|specifiedBy|oneOf)\b/;
const changes = (await diff(buildSchema(readFileSync(file, "utf8")), buildClientSchema(body.data))).filter(
  (change) => !BUILT_IN.test(change.path ?? ""),
);
for (const change of changes) {
  console.log(JSON.stringify({ type: change.type, level: change.criticality.level, message: change.message }));
}
process.exit(changes.length ? 1 : 0);
