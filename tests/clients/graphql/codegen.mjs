// graphql-codegen as a customer runs it: the schema by introspection from the running server (its
// URL and a key from the environment), our operations, TypeScript types with DateTime as a string.
export default {
  overwrite: true,
  silent: true,
  schema: [
    { [process.env.GRAPHQL_URL]: { headers: { Authorization: `Bearer ${process.env.GRAPHQL_KEY}` } } },
  ],
  documents: "operations.graphql",
  generates: {
    "generated/types.ts": {
      plugins: ["typescript", "typescript-operations"],
      config: {
        enumsAsTypes: true,
        strictScalars: true,
        scalars: { DateTime: "string", Date: "string" },
      },
    },
  },
};
