// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core,
// against the slipwayd that tests/e2e/dashboard_test.sh started with the example pipeline.
// Prints "ok: …" / "FAIL: …" per check and exits 1 if any failed.
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const env = process.env;
const url = env.SLIPWAY_URL;
let checks = 0;
let failures = 0;

async function check(what, fn) {
  checks++;
  try {
    await fn();
    console.log(`ok: ${what}`);
  } catch (e) {
    failures++;
    console.log(`FAIL: ${what}: ${String(e.message ?? e).split("\n")[0]}`);
  }
}
function expect(cond, message) {
  if (!cond) throw new Error(message);
}
const cli = (...args) => execFileSync(env.SLIPWAY_CLI, ["--data-dir", env.SLIPWAY_DATA, ...args], { encoding: "utf8" });
const cliAs = (token, ...args) => cli("--token", token, ...args);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function runState(id) {
  return JSON.parse(cli("run", "get", id, "-o", "json")).state;
}
async function waitRun(id, state, seconds = 60) {
  for (let i = 0; i < seconds * 5; i++) {
    if ((await runState(id)) === state) return;
    await sleep(200);
  }
  throw new Error(`run ${id} is ${await runState(id)}, not ${state}`);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext();
const page = await context.newPage();
page.setDefaultTimeout(20000);
const problems = [];
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("console", (m) => {
  // Refused calls (401, 403) are logged by the browser as failed loads: those are expected here.
  if (m.type() === "error" && !/favicon|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
});
const shot = (name) => page.screenshot({ path: `${env.SHOTS}/${name}.png`, fullPage: true });

async function login(token, { keyboard = false } = {}) {
  await page.goto(`${url}/`);
  const field = page.getByLabel("API token");
  if (keyboard) {
    await page.keyboard.press("Tab");
    expect((await page.evaluate(() => document.activeElement?.id)) === "token", "Tab does not reach the token field");
    await page.keyboard.type(token);
    await page.keyboard.press("Enter");
  } else {
    await field.fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  await page.getByRole("button", { name: "Log out" }).waitFor();
}
async function logout() {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("API token").waitFor();
}
const stageCard = (stage) => page.locator(`article[data-stage="${stage}"]`);

try {
  await check("a wrong token is refused at sign-in", async () => {
    await page.goto(`${url}/`);
    await page.getByLabel("API token").fill("slw_" + "0".repeat(64));
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "unauthenticated" }).waitFor();
    expect((await page.evaluate(() => sessionStorage.getItem("slipway.token"))) === null, "a refused token was kept");
  });

  await check("log in from the keyboard", async () => {
    await login(env.DEPLOY_TOKEN, { keyboard: true });
    await page.getByTestId("scope").filter({ hasText: "deploy" }).waitFor();
    await page.getByRole("link", { name: "shop" }).waitFor();
    await shot("pipelines");
  });

  await check("the token is in sessionStorage only: not in the URL, not in a cookie", async () => {
    expect(!page.url().includes(env.DEPLOY_TOKEN), "token in the URL");
    expect((await context.cookies()).length === 0, "a cookie was set");
    expect((await page.evaluate(() => sessionStorage.getItem("slipway.token"))) === env.DEPLOY_TOKEN, "not in sessionStorage");
  });

  await check("search narrows the pipelines", async () => {
    await page.getByLabel("Search by name").fill("nothing-like-it");
    await page.getByText("No pipelines starting with").waitFor();
    await page.getByLabel("Search by name").fill("sh");
    await page.getByRole("link", { name: "shop" }).waitFor();
  });

  await check("the pipeline shows its stages side by side with their versions", async () => {
    await page.getByRole("link", { name: "shop" }).click();
    for (const s of ["dev", "staging", "prod"]) await stageCard(s).waitFor();
    await stageCard("dev").getByTestId("version-web").filter({ hasText: "1.0.0" }).waitFor();
    await stageCard("staging").getByTestId("version-web").filter({ hasText: "1.0.0" }).waitFor();
    await stageCard("prod").getByTestId("release-prod").filter({ hasText: "none yet" }).waitFor();
    await shot("pipeline");
  });

  await check("a pipeline kept in Git says where its file stands", async () => {
    await page.goto(`${url}/#/pipelines/kept`);
    await page.getByTestId("gitops").filter({ hasText: "app@main:.slipway/kept.yaml" }).waitFor();
    await page.getByTestId("gitops").filter({ hasText: "synced at" }).waitFor();
    await page.goto(`${url}/#/pipelines/shop`);
    await stageCard("dev").waitFor();
    if ((await page.getByTestId("gitops").count()) !== 0) throw new Error("shop is not kept in Git");
  });

  let prodRun = "";
  await check("start prod from the page: it waits for an approval, shown live", async () => {
    await stageCard("prod").getByRole("button", { name: "Start run on prod" }).click();
    await stageCard("prod").locator('li[data-node="go"][data-state="awaiting approval"]').waitFor();
    prodRun = JSON.parse(cli("runs", "shop/prod", "-o", "json")).runs[0].id;
    expect(prodRun.startsWith("run-"), `no run: ${prodRun}`);
  });

  await check("the initiator cannot approve (the server says why)", async () => {
    await page.goto(`${url}/#/runs/${prodRun}`);
    await page.getByRole("button", { name: "Approve go" }).click();
    await page.getByRole("alert").filter({ hasText: "permission_denied" }).waitFor();
    await shot("run-awaiting-approval");
  });

  await check("a second token approves it and the page follows the run to the end", async () => {
    await logout();
    expect((await page.evaluate(() => sessionStorage.getItem("slipway.token"))) === null, "logout kept the token");
    await login(env.APPROVER_TOKEN);
    await page.goto(`${url}/#/runs/${prodRun}`);
    await page.getByRole("button", { name: "Approve go" }).click();
    await page.locator('li[data-node="web"][data-state="succeeded"]').waitFor({ timeout: 60000 });
    await page.locator(".run-summary .badge-succeeded").first().waitFor({ timeout: 60000 });
    await page.getByTestId("logs").filter({ hasText: "migrat" }).waitFor();
    await shot("run-succeeded");
  });

  await check("release 2 reaches prod (through the CLI)", async () => {
    cli("run", "shop/dev", "--arg", "version=2.0.0", "--sha", "2222222", "--wait");
    cli("run", "shop/staging", "--wait");
    const id = JSON.parse(cli("run", "shop/prod", "-o", "json")).id;
    await waitRun(id, "RUN_STATE_AWAITING_APPROVAL");
    cliAs(env.APPROVER_TOKEN, "approve", id, "--node", "go");
    await waitRun(id, "RUN_STATE_SUCCEEDED");
  });

  await check("two releases of the history are diffed", async () => {
    await logout();
    await login(env.DEPLOY_TOKEN);
    await page.goto(`${url}/#/pipelines/shop/prod`);
    await page.getByLabel("Compare release 1").check();
    await page.getByLabel("Compare release 2").check();
    await page.getByRole("button", { name: "Show diff" }).click();
    await page.getByLabel("Changes from release 1 to 2").getByText("artifact.version: 1.0.0 -> 2.0.0").waitFor();
    await shot("history-diff");
  });

  await check("roll back prod in one click: the confirmation says what changes, what is not undone, and the hold", async () => {
    await page.getByRole("button", { name: "Roll back to release 1" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByText("artifact.version: 2.0.0 -> 1.0.0").waitFor();
    await dialog.getByTestId("not-undone").filter({ hasText: "jobs are not replayed: migrate" }).waitFor();
    await dialog.getByTestId("hold-preview").filter({ hasText: "rolled back to release 1" }).waitFor();
    await dialog.getByTestId("hold-preview").filter({ hasText: "held by token:" }).waitFor();
    await shot("rollback-confirmation");
    await dialog.getByRole("button", { name: "Roll back to release 1" }).click();
    const result = dialog.getByTestId("rollback-result");
    await result.filter({ hasText: "Release 3 is rollback of 1" }).waitFor({ timeout: 60000 });
    await result.getByText("Stage held: rolled back to release 1").waitFor();
    await result.getByRole("button", { name: "Unhold" }).waitFor();
    await shot("rollback-done");
    await dialog.getByRole("button", { name: "Close" }).click();
    await page.locator('[data-release="3"]').filter({ hasText: "rollback of 1" }).waitFor();
  });

  await check("a read token sees no rollback button", async () => {
    await logout();
    await login(env.READ_TOKEN);
    await page.getByTestId("scope").filter({ hasText: "read" }).waitFor();
    await page.goto(`${url}/#/pipelines/shop/prod`);
    await page.locator('[data-release="1"]').waitFor();
    expect((await page.getByRole("button", { name: /Roll back to release/ }).count()) === 0, "a rollback button is shown");
    expect((await page.getByRole("button", { name: "Unhold" }).count()) === 0, "an Unhold button is shown");
    await shot("read-only-history");
  });

  await check("a forged rollback call from the page gets permission_denied", async () => {
    const answer = await page.evaluate(async () => {
      const r = await fetch("/slipway.v1.ReleaseService/RollbackStage", {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${sessionStorage.getItem("slipway.token")}` },
        body: JSON.stringify({ pipeline: "shop", stage: "prod", toRelease: "2" }),
      });
      return { status: r.status, body: await r.json() };
    });
    expect(answer.status === 403, `status ${answer.status}`);
    expect(answer.body.code === "permission_denied", `code ${answer.body.code}`);
  });

  let preview = "";
  await check("a preview is deleted from the page", async () => {
    await logout();
    await login(env.DEPLOY_TOKEN);
    await page.goto(`${url}/#/previews`);
    const row = page.locator("tr[data-preview]").first();
    await row.waitFor();
    preview = await row.getAttribute("data-preview");
    await row.locator(".badge-ready").waitFor();
    await shot("previews");
    page.once("dialog", (d) => d.accept());
    await row.getByRole("button", { name: `Delete ${preview}` }).click();
    // It leaves the list (deleted previews are hidden) or shows it is being torn down.
    const gone = page.locator(`tr[data-preview="${preview}"]`).filter({ hasNotText: /ready/ });
    for (let i = 0; i < 100 && (await page.locator(`tr[data-preview="${preview}"]`).count()) > 0 && (await gone.count()) === 0; i++) {
      await sleep(200);
    }
    const left = page.locator(`tr[data-preview="${preview}"]`);
    expect((await left.count()) === 0 || /tearing down|deleted/.test(await left.innerText()), "the preview is still listed as ready");
    await page.getByLabel("Show deleted").check();
    await page.locator(`tr[data-preview="${preview}"]`).filter({ hasText: /tearing down|deleted/ }).waitFor();
  });

  await check("the delivery list shows the rejected delivery with its reason", async () => {
    await page.goto(`${url}/#/deliveries`);
    const row = page.locator("tr[data-delivery]").filter({ hasText: "invalid" }).first();
    await row.waitFor();
    expect((await row.innerText()).includes("401"), "no 401 status");
    expect(/signature/i.test(await row.innerText()), `no reason: ${await row.innerText()}`);
    await shot("deliveries");
  });

  await check("a node's change reaches the page by the stream while the run goes on", async () => {
    // Two approvals: after the first, the run still waits, so only WatchRun can have said so.
    const run = JSON.parse(cli("run", "gate/prod", "-o", "json")).id;
    await page.goto(`${url}/#/runs/${run}`);
    await page.locator('li[data-node="first"][data-state="awaiting approval"]').waitFor();
    cliAs(env.APPROVER_TOKEN, "approve", run, "--node", "first");
    await page.locator('li[data-node="first"][data-state="succeeded"]').waitFor({ timeout: 5000 });
    await page.locator('li[data-node="second"][data-state="awaiting approval"]').waitFor({ timeout: 5000 });
    await page.getByTestId("logs").filter({ hasText: "approved by" }).waitFor({ timeout: 5000 });
    expect((await runState(run)) === "RUN_STATE_AWAITING_APPROVAL", "the run ended");
  });

  await check("no script error and no Content-Security-Policy violation on any page", async () => {
    expect(problems.length === 0, problems.join("; "));
  });
} finally {
  await browser.close();
}
console.log(`${checks - failures} passed, ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
