// Preview environments: state, URL, head SHA and expiry; extend, pause, resume or delete them.
import { useState } from "preact/hooks";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { api, canDeploy, type Session } from "../api";
import { PreviewState, type Preview } from "../gen/slipway/v1/preview_pb";
import { ActionButton, Badge, ErrorBox, Time, enumName, useLoad } from "../widgets";

function url(p: Preview): string | undefined {
  for (const r of p.resources) if (r.status["url"]) return r.status["url"];
  return undefined;
}

export function PreviewsPage({ session }: { session: Session }) {
  const [deleted, setDeleted] = useState(false);
  const { value, error, reload } = useLoad(() => api.previews.listPreviews({ includeDeleted: deleted }), [deleted]);
  const deploy = canDeploy(session);
  const act = (fn: () => Promise<unknown>) => async () => {
    await fn();
    reload();
  };
  return (
    <section>
      <h1>Previews</h1>
      <div class="toolbar">
        <label>
          <input type="checkbox" checked={deleted} onChange={() => setDeleted(!deleted)} /> Show deleted
        </label>
        <button type="button" onClick={reload}>
          Refresh
        </button>
      </div>
      <ErrorBox error={error} />
      {value && (
        <table class="list" aria-label="Previews">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Pipeline</th>
              <th scope="col">State</th>
              <th scope="col">URL</th>
              <th scope="col">Head</th>
              <th scope="col">Expires</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {value.previews.map((p) => {
              const u = url(p);
              const live = p.state !== PreviewState.DELETED && p.state !== PreviewState.TEARING_DOWN;
              return (
                <tr key={p.uid} data-preview={p.name}>
                  <td>{p.name}</td>
                  <td>{p.pipeline}</td>
                  <td>
                    <Badge text={enumName(PreviewState, p.state)} /> {p.message && <span class="muted">{p.message}</span>}
                  </td>
                  <td>{u ? <a href={u} rel="noreferrer">{u}</a> : "–"}</td>
                  <td>
                    <code>{(p.readySha || p.subject?.sha || "").slice(0, 12)}</code>
                  </td>
                  <td>
                    <Time t={p.expireTime} />
                  </td>
                  <td class="buttons">
                    {deploy && live && (
                      <>
                        <ActionButton label={`Extend ${p.name} by 2h`} run={act(() => api.previews.extendPreview({ name: p.name, duration: durationFromMs(2 * 3600 * 1000) }))} />
                        {p.state === PreviewState.PAUSED ? (
                          <ActionButton label={`Resume ${p.name}`} run={act(() => api.previews.resumePreview({ name: p.name }))} />
                        ) : (
                          <ActionButton label={`Pause ${p.name}`} run={act(() => api.previews.pausePreview({ name: p.name }))} />
                        )}
                        <ActionButton
                          kind="danger"
                          label={`Delete ${p.name}`}
                          run={act(async () => {
                            if (window.confirm(`Delete preview ${p.name}? Its resources are torn down.`)) {
                              await api.previews.deletePreview({ name: p.name });
                            }
                          })}
                        />
                      </>
                    )}
                  </td>
                </tr>
              );
            })}
            {value.previews.length === 0 && (
              <tr>
                <td colSpan={7} class="muted">
                  No previews.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}
