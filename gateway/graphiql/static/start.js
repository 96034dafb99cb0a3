// Starts GraphiQL against the gateway that served the page. A file, not an
// inline <script>, so the page's Content-Security-Policy allows only scripts
// from this origin.
(function () {
  'use strict';
  // The one <style> GraphiQL adds (react-remove-scroll, in dialogs) takes
  // its nonce from here; the policy refuses any other inline style.
  window.__webpack_nonce__ = document.currentScript.nonce;

  var root = document.getElementById('graphiql');
  // Relative to this page, so the same page works on any host and scheme.
  var url = new URL(root.dataset.endpoint, location.href);
  var subscriptionUrl = new URL(url.href);
  subscriptionUrl.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

  var fetcher = GraphiQL.createFetcher({
    url: url.href,
    // graphql-ws's client, bundled in GraphiQL, speaks graphql-transport-ws.
    subscriptionUrl: subscriptionUrl.href,
    // The session cookie rides along (a WebSocket handshake sends it anyway).
    fetch: function (input, init) {
      return fetch(input, Object.assign({}, init, { credentials: 'same-origin' }));
    },
  });

  // The page's title in place of GraphiQL's logo, which links to its
  // project page on another origin.
  var logo = React.createElement(GraphiQL.Logo, null, document.title);

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      isHeadersEditorEnabled: true,
      // Headers may hold a bearer token; the cookie is HttpOnly for a
      // reason, so tokens are not kept in localStorage either.
      shouldPersistHeaders: false,
      inputValueDeprecation: true,
    }, logo),
  );
})();
