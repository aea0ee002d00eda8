// StackStorm's web UI (st2web, built from ../shared/st2src/st2web.tar.gz) in headless Chromium
// against the StackStorm of tests/st2_install/run.sh; driven by test_30_web.py, which checks
// what this records against the actions' metadata. Records, never judges: out/web.json.
// usage: node web_check.js   with WEB_BASE (http://127.0.0.1:PORT), WEB_OUT (folder),
//        WEB_USER, WEB_PASSWORD, WEB_ACTIONS (JSON file: [{ref, parameters}]),
//        WEB_DB_EXECUTION (an aws.database_create execution id), NODE_PATH (playwright-core)
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const base = process.env.WEB_BASE;
const out = process.env.WEB_OUT;
const actions = JSON.parse(fs.readFileSync(process.env.WEB_ACTIONS, 'utf8'));
const record = { console_errors: [], page_errors: [], actions: {}, steps: [] };
const step = (s) => { record.steps.push(s); console.log('step: ' + s); };
const save = () => fs.writeFileSync(path.join(out, 'web.json'), JSON.stringify(record, null, 1));

async function shot(page, name, locator) {
  const file = path.join(out, name);
  if (locator) {
    await locator.screenshot({ path: file });
  } else {
    await page.screenshot({ path: file });
  }
  (record.screenshots = record.screenshots || []).push(name);
}

// what a form shows, line by line in page order: the parameter's name (its title, or the label
// of a checkbox), the required mark, the input element (tag, type, classes: st2web masks a
// secret with the class st2-auto-form__field--secret), its placeholder (st2web shows the
// default there), a select's options, the line's height and description
async function formLines(form) {
  return form.locator('.st2-auto-form__line').evaluateAll((lines) => lines.map((line) => {
    const title = line.querySelector('.st2-auto-form__title');
    const cb = line.querySelector('.st2-auto-form__checkbox-label');
    const name = cb ? cb.textContent.trim()
      : (title ? title.textContent.replace(/\s*\*\s*$/, '').trim() : null);
    const el = line.querySelector('textarea, select, input');
    const box = line.getBoundingClientRect();
    const desc = line.querySelector('.st2-auto-form__description');
    return {
      name,
      required_mark: !!line.querySelector('.st2-auto-form--required') ||
        !!(title && /\*\s*$/.test(title.textContent)),
      tag: el && el.tagName.toLowerCase(),
      type: el && el.getAttribute('type'),
      classes: el && el.className,
      placeholder: el && el.getAttribute('placeholder'),
      disabled: el ? el.disabled : null,
      options: el && el.tagName === 'SELECT' ? Array.from(el.options).map((o) => o.value) : null,
      visible: box.height > 0 && box.width > 0,
      line_height: Math.round(box.height),
      description: desc ? desc.textContent : '',
    };
  }));
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.WEB_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('console', (m) => { if (m.type() === 'error') record.console_errors.push(m.text()); });
  page.on('pageerror', (e) => record.page_errors.push(String(e)));
  try {
    // --- sign in
    await page.goto(base + '/', { waitUntil: 'load' });
    await page.fill('input[name="username"]', process.env.WEB_USER);
    await page.fill('input[name="password"]', process.env.WEB_PASSWORD);
    await page.click('button[type="submit"], input[type="submit"]');
    await page.waitForSelector('[data-test="history_panel"], [data-test="actions_panel"]',
      { timeout: 30000 });
    record.signed_in = true;
    step('signed in as ' + process.env.WEB_USER);

    // --- the pack and its config form
    await page.goto(base + '/#/packs/aws');
    await page.waitForSelector('[data-test="pack_info"]', { timeout: 30000 });
    await page.waitForSelector('[data-test="pack_config"] [data-test^="field:"]',
      { timeout: 30000 });
    const packInfo = await page.locator('[data-test="pack_info"]').innerText();
    const configLines = await formLines(page.locator('[data-test="pack_config"]'));
    const configFields = configLines.map((l) => l.name);
    const packCards = await page.locator('[data-test~="pack:aws"]').count();
    record.pack = { info: packInfo, config_fields: configFields, lines: configLines,
      card: packCards > 0 };
    await shot(page, 'st2-pack-aws.png');
    step('pack view: ' + configFields.length + ' config fields');

    // --- every action's form
    for (const action of actions) {
      await page.goto(base + '/#/actions/' + action.ref + '/general');
      await page.waitForSelector('[data-test="action_parameters"]', { timeout: 30000 });
      const form = page.locator('[data-test="action_parameters"]');
      await page.waitForTimeout(300);
      const lines = await formLines(form);
      const fields = {};
      lines.forEach((l) => { fields[l.name] = Object.assign({ present: true }, l); });
      const order = lines.map((l) => l.name);
      const details = page.locator('[data-test="details"]');
      const overflow = await details.evaluate((e) => e.scrollWidth > e.clientWidth + 2);
      record.actions[action.ref] = { fields, order, overflow };
      if (action.ref === 'aws.boto3action' || action.ref === 'aws.kubernetes_call') {
        await shot(page, 'st2-action-' + action.ref.split('.')[1] + '.png');
      }
    }
    step('action forms: ' + Object.keys(record.actions).length);

    // object and array parameters are editable: type JSON into boto3action's params, see it
    // accepted (no invalid mark)
    await page.goto(base + '/#/actions/aws.boto3action/general');
    await page.waitForSelector('[data-test="action_parameters"]');
    const form = page.locator('[data-test="action_parameters"]');
    await form.locator('[data-test="field:service"]').fill('rds');
    await form.locator('[data-test="field:action_name"]').fill('describe_db_instances');
    await form.locator('[data-test="field:params"]').fill('{"MaxRecords": 20}');
    await page.waitForTimeout(300);
    record.params_invalid = await form.locator('[data-test="field:params"]')
      .evaluate((e) => e.className.includes('invalid'));
    await form.locator('[data-test="field:params"]').fill('{"MaxRecords": ');
    await page.waitForTimeout(300);
    record.params_invalid_when_broken = await form.locator('[data-test="field:params"]')
      .evaluate((e) => e.className.includes('invalid'));
    await form.locator('[data-test="field:params"]').fill('{"MaxRecords": 20}');
    await page.waitForTimeout(300);

    // --- run aws.boto3action from its form and see the result
    const session = JSON.parse(await page.evaluate(() => localStorage.getItem('st2Session')));
    const token = session && session.token && session.token.token;
    const listUrl = base + '/api/v1/executions?action=aws.boto3action&limit=1';
    const latest = async () => {
      const r = await fetch(listUrl, { headers: { 'X-Auth-Token': token } });
      const xs = await r.json();
      return xs.length ? xs[0] : null;
    };
    const before = await latest();
    await page.click('[data-test="run_submit"]');
    let run = null;
    for (let i = 0; i < 120; i++) {
      const x = await latest();
      if (x && (!before || x.id !== before.id) &&
          ['succeeded', 'failed', 'timeout', 'canceled'].includes(x.status)) {
        run = x;
        break;
      }
      await page.waitForTimeout(500);
    }
    record.form_run = run && { id: run.id, status: run.status, parameters: run.parameters };
    if (run) {
      await page.goto(base + '/#/history/' + run.id + '/general');
      await page.waitForSelector('[data-test="action_output"]', { timeout: 30000 });
      await page.waitForTimeout(500);
      record.form_run.output_text = (await page.locator('[data-test="action_output"]')
        .innerText()).slice(0, 2000);
      record.form_run.status_label = (await page.locator('[data-test="status"]').first()
        .innerText()).trim();
      await shot(page, 'st2-execution-boto3action.png');
    }
    step('ran aws.boto3action from its form: ' + (run && run.status));

    // --- a Database provisioning execution: its tree in the history view
    const dbId = process.env.WEB_DB_EXECUTION;
    if (dbId) {
      await page.goto(base + '/#/history/' + dbId + '/general');
      const card = page.locator(`[data-test~="execution:${dbId}"]`).first();
      await card.waitFor({ timeout: 30000 });
      const cardsSel = '[data-test^="execution execution:"]';
      const texts = () => page.locator(cardsSel)
        .evaluateAll((es) => es.map((e) => e.innerText.replace(/\s+/g, ' ').trim()));
      const before = await texts();
      await card.locator('.st2-flex-card__expand i').first().click();
      let allCards = before;
      for (let i = 0; i < 40 && allCards.length <= before.length; i++) {
        await page.waitForTimeout(500);
        allCards = await texts();
      }
      const children = allCards.filter((t) => !before.includes(t));
      record.database = {
        id: dbId,
        status_label: (await page.locator('[data-test="status"]').first().innerText()).trim(),
        children: children,
      };
      await shot(page, 'st2-execution-database-create.png');
      step('Database execution tree: ' + children.length + ' task executions');
    }
  } catch (e) {
    record.error = String(e && e.stack || e);
    try { await shot(page, 'error.png'); } catch (e2) { /* ignore */ }
  } finally {
    save();
    await browser.close();
  }
})();
