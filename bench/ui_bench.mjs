// The dashboard at scale, driven by Debian's Chromium through playwright-core (bench/ui_bench.sh
// runs it twice: `seed`, then `measure` once the release history is in the store).
//   node bench/ui_bench.mjs seed|measure   (env: SLIPWAY_URL, ADMIN_TOKEN, CHROMIUM, UI_DIR,
//                                            PIPELINES, SAMPLES)
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const env = process.env;
const url = env.SLIPWAY_URL;
const admin = env.ADMIN_TOKEN;
const pipelines = Number(env.PIPELINES ?? 10000);
const samples = Number(env.SAMPLES ?? 10);
const APPROVALS = 12;

async function call(method, body, token = admin) {
  const r = await fetch(`${url}/slipway.v1.${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`${method}: ${r.status} ${text}`);
  return JSON.parse(text);
}

const service = (name) => ({
  name: "web",
  kind: "RESOURCE_KIND_SERVICE",
  driver: "process",
  process: { command: ["hello-server", "--version", "${artifact.version}"] },
});

async function seed() {
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < pipelines) {
      const i = next++;
      const name = `p-${String(i).padStart(5, "0")}`;
      await call("PipelineService/ApplyPipeline", {
        pipeline: {
          name,
          description: `pipeline ${i} of ${pipelines}`,
          stages: ["dev", "prod"].map((s) => ({
            name: s,
            resources: [service()],
            flow: { sequential: { steps: [{ ref: "deploy", deploy: { resource: "web", artifact: { version: "${args.version}" } } }] } },
          })),
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  const seconds = (performance.now() - t0) / 1000;
  // The stage whose history gets 100,000 releases, and one whose run waits on approvals.
  await call("PipelineService/ApplyPipeline", {
    pipeline: { name: "shop", stages: [{ name: "prod", resources: [service()], flow: { sequential: { steps: [{ ref: "deploy", deploy: { resource: "web", artifact: { version: "${args.version}" } } }] } } }] },
  });
  const steps = Array.from({ length: APPROVALS }, (_, i) => ({ ref: `go${i}`, approval: { approvals: 1 } }));
  await call("PipelineService/ApplyPipeline", {
    pipeline: { name: "live", stages: [{ name: "prod", flow: { sequential: { steps } } }] },
  });
  console.log(`seeded ${pipelines} pipelines through ApplyPipeline in ${seconds.toFixed(1)} s`);
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))];
};
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms (${xs.length} samples)`;

async function measure() {
  const { chromium } = await import(pathToFileURL(join(env.UI_DIR, "node_modules", "playwright-core", "index.mjs")).href);
  const approver = (await call("AdminService/CreateToken", { scope: "SCOPE_DEPLOY", description: "ui_bench approver" })).secret;
  const run = await call("ReleaseService/StartRun", { pipeline: "live", stage: "prod" });
  const browser = await chromium.launch({
    executablePath: env.CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  page.setDefaultTimeout(30000);
  await page.goto(`${url}/`);
  await page.getByLabel("API token").fill(approver);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Log out" }).waitFor();

  // A fresh load of a page: first contentful paint, and the time its content is on screen and
  // can be used (rows rendered), both from the start of navigation.
  async function load(hash, ready) {
    await page.goto(`${url}/${hash}`);
    await page.reload();
    await page.waitForFunction(ready, null, { polling: "raf" });
    return page.evaluate(() => ({
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN,
      usable: performance.now(),
    }));
  }
  const results = {};
  const keep = (name, v) => (results[name] ??= []).push(v);

  for (let i = 0; i < samples; i++) {
    const p = await load("#/pipelines", () => document.querySelectorAll('[data-testid="pipeline-rows"] tr a').length >= 50);
    keep("pipelines page FCP", p.fcp);
    keep("pipelines page usable", p.usable);
    const h = await load("#/pipelines/shop/prod", () => document.querySelectorAll("[data-release]").length >= 10);
    keep("history page (100,000 releases) FCP", h.fcp);
    keep("history page (100,000 releases) usable", h.usable);
  }

  // Search and paging: from the input or click to the new rows on screen.
  await page.goto(`${url}/#/pipelines`);
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="pipeline-rows"] tr a').length >= 50);
  for (let i = 0; i < samples; i++) {
    // A prefix that exists at any size: the first 6 characters of some pipeline's name.
    const prefix = `p-${String((i * 37) % pipelines).padStart(5, "0")}`.slice(0, 6);
    const ms = await page.evaluate(async (prefix) => {
      const input = document.getElementById("search");
      const t0 = performance.now();
      input.value = prefix;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      await new Promise((done) => {
        const tick = () => {
          const names = [...document.querySelectorAll('[data-testid="pipeline-rows"] tr a')].map((a) => a.textContent);
          if (names.length > 0 && names.every((n) => n.startsWith(prefix))) done();
          else requestAnimationFrame(tick);
        };
        tick();
      });
      return performance.now() - t0;
    }, prefix);
    keep("search", ms);
  }
  await page.evaluate(() => {
    const input = document.getElementById("search");
    input.value = "";
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });
  await page.waitForFunction(() => document.querySelector('[data-testid="pipeline-rows"] tr a')?.textContent === "live" || document.querySelectorAll('[data-testid="pipeline-rows"] tr a').length >= 50);
  for (let i = 0; i < samples; i++) {
    const ms = await page.evaluate(async () => {
      const first = () => document.querySelector('[data-testid="pipeline-rows"] tr a')?.textContent;
      const before = first();
      const next = [...document.querySelectorAll("button")].find((b) => b.textContent === "Next page");
      const t0 = performance.now();
      next.click();
      await new Promise((done) => {
        const tick = () => (first() && first() !== before ? done() : requestAnimationFrame(tick));
        tick();
      });
      return performance.now() - t0;
    });
    keep("next page", ms);
  }
  // Scrolling the history to the end of what is loaded fetches the next 100 releases.
  await page.goto(`${url}/#/pipelines/shop/prod`);
  await page.waitForFunction(() => document.querySelectorAll("[data-release]").length >= 10);
  for (let i = 0; i < samples; i++) {
    const ms = await page.evaluate(async () => {
      const list = document.querySelector(".vlist");
      const rows = list.firstElementChild;
      const height = rows.getBoundingClientRect().height;
      const t0 = performance.now();
      list.scrollTop = height;
      list.dispatchEvent(new Event("scroll"));
      await new Promise((done) => {
        const tick = () => (rows.getBoundingClientRect().height > height && document.querySelector(".vrow:last-child [data-release]") ? done() : requestAnimationFrame(tick));
        tick();
      });
      return performance.now() - t0;
    });
    keep("history: scroll past 100 more releases", ms);
  }

  // A node's change on screen: the page follows the run (WatchRun); each approval is committed
  // by the server before it answers, and the answer's arrival starts the clock. The DOM is
  // watched with a MutationObserver.
  await page.goto(`${url}/#/runs/${run.id}`);
  await page.locator('li[data-node="go0"][data-state="awaiting approval"]').waitFor();
  for (let i = 0; i < Math.min(samples, APPROVALS); i++) {
    const ms = await page.evaluate(
      async ({ id, node }) => {
        const li = document.querySelector(`li[data-node="${node}"]`);
        const seen = new Promise((done) => {
          const check = () => li.isConnected && document.querySelector(`li[data-node="${node}"]`)?.dataset.state === "succeeded";
          const obs = new MutationObserver(() => {
            if (check()) {
              obs.disconnect();
              done(performance.now());
            }
          });
          obs.observe(document.body, { subtree: true, attributes: true, childList: true });
        });
        const sent = performance.now();
        const r = await fetch("/slipway.v1.ReleaseService/ApproveRun", {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${sessionStorage.getItem("slipway.token")}` },
          body: JSON.stringify({ id, node }),
        });
        const recorded = performance.now();
        if (r.status !== 200) throw new Error(`approve ${node}: ${r.status} ${await r.text()}`);
        const timeout = new Promise((_, fail) => setTimeout(() => fail(new Error(`${node} did not show as succeeded in 10 s: ${document.querySelector(".nodes")?.innerHTML}`)), 10000));
        const shown = await Promise.race([seen, timeout]);
        return { recorded: shown - recorded, sent: shown - sent };
      },
      { id: run.id, node: `go${i}` },
    );
    keep("node state change: approval answered (recorded) → in the DOM", ms.recorded);
    keep("node state change: approval sent → in the DOM", ms.sent);
    await page.locator(`li[data-node="go${i + 1}"][data-state="awaiting approval"]`).waitFor().catch(() => undefined);
  }

  // The same-run baseline: the bare API calls behind those pages, from the page, no rendering.
  for (let i = 0; i < samples; i++) {
    const ms = await page.evaluate(async () => {
      const t0 = performance.now();
      const r = await fetch("/slipway.v1.PipelineService/ListPipelines", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${sessionStorage.getItem("slipway.token")}` },
        body: JSON.stringify({ pageSize: 50, namePrefix: "p-01" }),
      });
      await r.json();
      return performance.now() - t0;
    });
    keep("baseline: ListPipelines fetch (50, JSON)", ms);
    const ms2 = await page.evaluate(async () => {
      const t0 = performance.now();
      const r = await fetch("/slipway.v1.ReleaseService/ListReleases", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${sessionStorage.getItem("slipway.token")}` },
        body: JSON.stringify({ pipeline: "shop", stage: "prod", pageSize: 100 }),
      });
      await r.json();
      return performance.now() - t0;
    });
    keep("baseline: ListReleases fetch (100, JSON)", ms2);
  }
  await browser.close();
  for (const [name, xs] of Object.entries(results)) console.log(`${name}: ${fmt(xs)}`);
}

if (process.argv[2] === "seed") await seed();
else await measure();
