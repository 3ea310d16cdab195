// The registry dashboard in a real browser: Debian's headless Chromium, driven by
// playwright-core. An instance registered over the Eureka API appears on the page with its
// status and address, and disappears when it is cancelled; the page's screenshot is saved for
// the README.
//
// Needs CLAIMCHECK_BUILD_DIR; writes the screenshot to CLAIMCHECK_SCREENSHOT (default
// <build dir>/dashboard.png).

import { spawn } from "node:child_process";
import { mkdtempSync, openSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const buildDir = process.env.CLAIMCHECK_BUILD_DIR ?? new URL("../../build", import.meta.url).pathname;
const screenshot = process.env.CLAIMCHECK_SCREENSHOT ?? join(buildDir, "dashboard.png");
const WAIT_MS = 10_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function registration(app, id, port) {
  return {
    instance: {
      instanceId: id, hostName: "127.0.0.1", app, ipAddr: "127.0.0.1", status: "UP",
      port: { $: port, "@enabled": "true" },
      dataCenterInfo: { "@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                        name: "MyOwn" },
      leaseInfo: { renewalIntervalInSecs: 30, durationInSecs: 90 },
      vipAddress: app.toLowerCase(),
    },
  };
}

let registry;
let origin;
let context;
let profile;

async function eureka(method, path, body) {
  const response = await fetch(`${origin}/eureka${path}`, {
    method,
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(5000),
  });
  return response.status;
}

before(async () => {
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  const log = openSync(join(buildDir, "dashboard-test-registry.log"), "w");
  registry = spawn(join(buildDir, "apps/registry/claimcheck-registry"),
                   ["--set", `server.port=${port}`], { stdio: ["ignore", log, log] });
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    try {
      if ((await eureka("GET", "/apps")) === 200) break;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`registry did not start: ${error.message}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  profile = mkdtempSync(join(tmpdir(), "claimcheck-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    timeout: 30_000,
    viewport: { width: 1100, height: 560 },
    args: ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", "--disable-gpu"],
  });
});

after(async () => {
  await context?.close();
  registry?.kill("SIGTERM");
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("an instance appears on the dashboard and goes when cancelled", async () => {
  const page = await context.newPage();
  await page.goto(origin + "/", { timeout: WAIT_MS });
  await page.waitForSelector("#empty:not([hidden])", { timeout: WAIT_MS });

  assert.equal(await eureka("POST", "/apps/CLAIMCHECK-AUTH",
                            registration("CLAIMCHECK-AUTH", "127.0.0.1:claimcheck-auth:9000", 9000)),
               204);
  assert.equal(await eureka("POST", "/apps/ORDERS", registration("ORDERS", "orders-1", 8080)), 204);
  assert.equal(await eureka("POST", "/apps/ORDERS", registration("ORDERS", "orders-2", 8081)), 204);
  assert.equal(await eureka("PUT", "/apps/ORDERS/orders-2/status?value=OUT_OF_SERVICE"), 200);

  const row = page.locator('tr[data-instance-id="orders-1"]');
  await row.waitFor({ timeout: WAIT_MS });
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[0], "ORDERS");
  assert.equal(cells[1], "orders-1");
  assert.equal(cells[2], "UP");
  assert.equal(cells[3], "127.0.0.1:8080");
  assert.match(cells[4], /s ago$/);
  assert.match(cells[5], /s ago$/);
  await page.locator('tr[data-instance-id="orders-2"] td.status', { hasText: "OUT_OF_SERVICE" })
      .waitFor({ timeout: WAIT_MS });
  assert.equal(await page.textContent("#instance-count"), "3");
  assert.match(await page.textContent("#self-preservation"), /threshold/);
  await page.screenshot({ path: screenshot, fullPage: true });

  assert.equal(await eureka("DELETE", "/apps/ORDERS/orders-1"), 200);
  await row.waitFor({ state: "detached", timeout: WAIT_MS });
  assert.equal(await page.locator('tr[data-instance-id="orders-2"]').count(), 1);
});
