"use strict";
// Store a pasted token after checking that CRM accepts it, then go to the page that sent the user here.
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  const token = document.getElementById("token").value.trim();
  cw.setToken(token);
  const response = await cw.api("GET", "/pipelines");
  if (!response.ok) {
    cw.setToken(null);
    error.textContent = cw.errorText(response);
    error.hidden = false;
    return;
  }
  const next = new URLSearchParams(location.search).get("next");
  // Only a path of this site: never an absolute or protocol-relative address.
  location.href = next && next.startsWith("/ui") ? next : "/ui/board";
});
