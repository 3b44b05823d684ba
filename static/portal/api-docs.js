/*
 * The REST docs page (templates/ninja/swagger.html): names Swagger UI's server picker, which it
 * renders without a label, whenever Swagger UI draws it.
 */
(() => {
  "use strict";
  const name = () => {
    const servers = document.getElementById("servers");
    if (servers && !servers.hasAttribute("aria-label")) servers.setAttribute("aria-label", "Server");
  };
  new MutationObserver(name).observe(document.getElementById("swagger-ui"), { childList: true, subtree: true });
  name();
})();
