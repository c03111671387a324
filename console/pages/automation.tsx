// Settings → Automation: the rules, enable / disable, each rule's run trace, add (as JSON) and delete.
import { useEffect, useState } from "preact/hooks";
import { call, type List } from "../api";
import { useAccountPath } from "../session";
import { ErrorText, Section, useAction, when } from "../ui";

type Rule = { id: string; name: string; description: string | null; event_name: string; conditions: unknown[]; actions: unknown[]; active: boolean };
type Run = {
  id: string;
  event_type: string;
  conversation_id: string | null;
  state: string;
  matched: boolean | null;
  conditions: { attribute: string; operator: string; result: boolean }[];
  actions: { name: string; result: string; detail: string | null }[];
  created_at?: string;
};

const EXAMPLE = JSON.stringify(
  {
    name: "Label refunds",
    event_name: "message_created",
    conditions: [{ attribute: "content", operator: "contains", values: ["refund"] }],
    actions: [{ name: "add_label", params: ["refund"] }],
  },
  null,
  2,
);

function Runs({ path }: { path: string }) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const { error, run } = useAction();
  useEffect(() => void run(async () => setRuns((await call<List<Run>>("GET", `${path}/runs?limit=20`)).data)), [path]);
  return (
    <div class="runs">
      <ErrorText error={error} />
      {runs?.length === 0 && <p class="muted">No runs yet.</p>}
      <ol>
        {runs?.map((r) => (
          <li>
            {r.event_type} · {r.state} · {r.matched === null ? "…" : r.matched ? "matched" : "no match"} {r.created_at ? `· ${when(r.created_at)}` : ""}
            <ul>
              {r.conditions.map((c) => (
                <li>
                  {c.attribute} {c.operator}: {c.result ? "true" : "false"}
                </li>
              ))}
              {r.actions.map((a) => (
                <li>
                  {a.name}: {a.result}
                  {a.detail ? ` (${a.detail})` : ""}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
    </div>
  );
}

export function AutomationPage() {
  const base = useAccountPath();
  const [rules, setRules] = useState<Rule[]>([]);
  const [open, setOpen] = useState<string | null>(null);
  const [draft, setDraft] = useState(EXAMPLE);
  const list = useAction();
  const adding = useAction();
  const reload = () => list.run(async () => setRules((await call<List<Rule>>("GET", `${base}/automation_rules?limit=100`)).data));
  useEffect(() => void reload(), [base]);
  return (
    <div class="settings">
      <h1>Settings → Automation</h1>
      <Section title="Rules">
        <ErrorText error={list.error} />
        {rules.length === 0 && <p class="muted">No rules yet.</p>}
        <ul class="rows">
          {rules.map((rule) => (
            <li>
              <strong>{rule.name}</strong> <span class="muted">on {rule.event_name}</span>
              <label class="check">
                <input
                  type="checkbox"
                  checked={rule.active}
                  onChange={(e) => list.run(async () => (await call("PATCH", `${base}/automation_rules/${rule.id}`, { active: e.currentTarget.checked }), await reload()))}
                />
                Enabled
              </label>
              <button type="button" aria-expanded={open === rule.id} onClick={() => setOpen(open === rule.id ? null : rule.id)}>
                Run trace
              </button>
              <button
                type="button"
                class="danger"
                aria-label={`Delete rule ${rule.name}`}
                onClick={() => confirm(`Delete the rule “${rule.name}”?`) && list.run(async () => (await call("DELETE", `${base}/automation_rules/${rule.id}`), await reload()))}
              >
                Delete
              </button>
              {open === rule.id && <Runs path={`${base}/automation_rules/${rule.id}`} />}
            </li>
          ))}
        </ul>
      </Section>
      <Section title="Add a rule">
        <form
          class="stack"
          onSubmit={(event) => {
            event.preventDefault();
            adding.run(async () => {
              let body: unknown;
              try {
                body = JSON.parse(draft);
              } catch (e) {
                throw new Error(`The rule is not valid JSON: ${(e as Error).message}`);
              }
              await call("POST", `${base}/automation_rules`, body);
              await reload();
            });
          }}
        >
          <label>
            Rule (JSON, as POST /v1/accounts/…/automation_rules takes it; see /docs)
            <textarea rows={10} value={draft} onInput={(e) => setDraft(e.currentTarget.value)} />
          </label>
          <ErrorText error={adding.error} />
          <button type="submit" disabled={adding.busy}>Add rule</button>
        </form>
      </Section>
    </div>
  );
}
