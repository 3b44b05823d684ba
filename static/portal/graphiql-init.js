/*
 * The GraphQL explorer: GraphiQL from our own static files, talking to this portal's /api/graphql.
 * A signed-in member's session is used (with its CSRF token); a key can be put into the Headers tab,
 * which then decides who is asking.
 */
(() => {
  "use strict";
  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const fetcher = window.GraphiQL.createFetcher({
    url: meta("graphql-endpoint"),
    headers: { "X-CSRFToken": meta("csrf-token") },
    fetch: (url, options) => window.fetch(url, { ...options, credentials: "same-origin" }),
  });
  const root = window.ReactDOM.createRoot(document.getElementById("graphiql"));
  // GraphiQL's editors are CodeMirror textareas without a name: give each the name of its pane.
  const names = [
    [".graphiql-query-editor textarea", "Query"],
    [".graphiql-editor-tool .graphiql-editor:nth-child(1) textarea", "Variables"],
    [".graphiql-editor-tool .graphiql-editor:nth-child(2) textarea", "Headers"],
    [".graphiql-response textarea", "Response"],
  ];
  const label = () => {
    for (const [selector, name] of names) {
      for (const area of document.querySelectorAll(selector)) {
        if (!area.hasAttribute("aria-label")) area.setAttribute("aria-label", name);
      }
    }
  };
  new MutationObserver(label).observe(document.getElementById("graphiql"), { childList: true, subtree: true });
  root.render(
    window.React.createElement(window.GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery: "# With a key: currentKey\n{\n  currentUser {\n    email\n    role\n  }\n}\n",
    }),
  );
})();
