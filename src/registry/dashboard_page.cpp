#include "dashboard_page.hpp"

namespace claimcheck::registry {
namespace {

// Instance data is inserted with textContent only, never as HTML, so a registrant cannot inject
// markup into the page.
constexpr std::string_view kPage = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>claimcheck registry</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em 2em; color: #1d2329; }
  h1 { font-size: 1.4em; margin: 0 0 .2em; }
  h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
  .muted { color: #68737d; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .3em .8em .3em 0; border-bottom: 1px solid #e3e7ea; }
  th { font-weight: 600; color: #45505a; }
  .status { font-weight: 600; }
  .UP { color: #16794c; } .DOWN, .OUT_OF_SERVICE { color: #b3261e; }
  .STARTING, .UNKNOWN { color: #9a6700; }
  #self-preservation { padding: .6em .8em; border-radius: 4px; background: #eef6f0; }
  #self-preservation.active { background: #fdf0e0; }
  #error { color: #b3261e; }
</style>
</head>
<body>
<h1>claimcheck registry</h1>
<div class="muted">Eureka-compatible discovery &middot; updated <span id="updated">never</span>
  <span id="error"></span></div>

<h2>Health</h2>
<table><tbody>
  <tr><th>Instances</th><td id="instance-count">&ndash;</td></tr>
  <tr><th>Up since</th><td id="uptime">&ndash;</td></tr>
  <tr><th>Self-preservation</th><td><div id="self-preservation">&ndash;</div></td></tr>
  <tr><th>Peers</th><td id="peers">&ndash;</td></tr>
</tbody></table>

<h2>Instances by application</h2>
<table id="instances">
  <thead><tr><th>Application</th><th>Instance</th><th>Status</th><th>Address</th>
    <th>Lease age</th><th>Last heartbeat</th></tr></thead>
  <tbody></tbody>
</table>
<p id="empty" class="muted" hidden>No instance is registered.</p>

<script>
const REFRESH_MS = 2000;

function age(fromMs, nowMs) {
  if (!fromMs) return "\u2013";
  let s = Math.max(0, Math.round((nowMs - fromMs) / 1000));
  if (s < 120) return s + " s ago";
  if (s < 7200) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function asList(value) {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function portOf(port) {
  return port && typeof port === "object" ? port["$"] : port;
}

function renderInstances(apps, nowMs) {
  const body = document.querySelector("#instances tbody");
  body.replaceChildren();
  let count = 0;
  for (const app of asList(apps.applications.application)) {
    for (const instance of asList(app.instance)) {
      const row = body.insertRow();
      row.dataset.instanceId = instance.instanceId;
      const lease = instance.leaseInfo || {};
      cell(row, app.name);
      cell(row, instance.instanceId);
      cell(row, instance.status, "status " + instance.status);
      cell(row, instance.hostName + ":" + portOf(instance.port));
      cell(row, age(lease.registrationTimestamp, nowMs));
      cell(row, age(lease.lastRenewalTimestamp, nowMs));
      count++;
    }
  }
  document.getElementById("empty").hidden = count > 0;
}

function renderStatus(status) {
  document.getElementById("instance-count").textContent = status.instances;
  document.getElementById("uptime").textContent =
      new Date(status.startedTimestamp).toLocaleString() + " (" +
      age(status.startedTimestamp, status.now).replace(" ago", "") + ")";
  const sp = status.selfPreservation;
  const box = document.getElementById("self-preservation");
  box.className = sp.active ? "active" : "";
  box.textContent = (sp.active ? "ON \u2014 " : sp.enabled ? "off \u2014 " : "disabled \u2014 ") +
      sp.reason;
  const peers = document.getElementById("peers");
  peers.replaceChildren();
  if (status.peers.length === 0) {
    peers.textContent = "none (standalone)";
  }
  for (const peer of status.peers) {
    const line = document.createElement("div");
    line.textContent = peer.url + ": " +
        (peer.reachable ? "replicating (" + peer.replicated + " sent)"
                        : (peer.lastError ? "unreachable (" + peer.lastError + ")"
                                          : "nothing sent yet"));
    peers.appendChild(line);
  }
}

async function refresh() {
  try {
    const accept = { headers: { Accept: "application/json" } };
    const [apps, status] = await Promise.all([
      fetch("/eureka/apps", accept).then(r => r.json()),
      fetch("/dashboard/status", accept).then(r => r.json()),
    ]);
    renderInstances(apps, status.now);
    renderStatus(status);
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
    document.getElementById("error").textContent = "";
  } catch (e) {
    document.getElementById("error").textContent = "(registry unreachable: " + e.message + ")";
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
)html";

}  // namespace

std::string_view dashboard_html() { return kPage; }

}  // namespace claimcheck::registry
