// Generated artifacts on the Settings page: read-only, each saying what made it and linking to
// its owner (a camera source in the cameras list, or a pipeline node), where it is changed.
import * as api from '../api';

/** What made an artifact, as the reconciler records it. */
export interface Owner {
  generated_by?: string;
  camera_id?: string | null;
  camera_source_id?: string | null;
  pipeline_name?: string | null;
  publish_node_id?: string | null;
}

/** "Generated (…) from <camera link>; change it there.", or nothing for a manual artifact. */
export function ownerNote(owner: Owner): HTMLElement | undefined {
  if (!owner.generated_by) return undefined;
  const note = document.createElement('span');
  note.className = 'owner';
  if (owner.camera_id) {
    const link = document.createElement('a');
    // This page's own URL: a bare `#…` would resolve against the page's <base>, another page.
    link.href = `${location.pathname}${location.search}#camera-${owner.camera_id}`;
    link.textContent = owner.camera_source_id
      ? `camera ${owner.camera_id}, source ${owner.camera_source_id}`
      : `camera ${owner.camera_id}`;
    note.append(`Generated (${owner.generated_by}) from `, link, '; change it there.');
  } else {
    note.textContent =
      `Generated (${owner.generated_by}) by pipeline ${owner.pipeline_name ?? '?'}, ` +
      `node ${owner.publish_node_id ?? '?'}; change it there.`;
  }
  return note;
}

interface LiveView {
  id: string;
  name?: string | null;
  owner_kind?: string;
  camera_id?: string | null;
  variants?: { id: string; label?: string; transmission_id?: string }[];
}

interface Pipeline {
  name: string;
  enabled?: boolean;
  graph?: { meta?: { streaming?: Owner & { transmission_id?: string; preset_id?: string } } };
}

const list = document.querySelector<HTMLUListElement>('#generated')!;

function entry(kind: string, name: string, detail: string, note: HTMLElement | undefined): HTMLLIElement {
  const item = document.createElement('li');
  item.dataset.artifact = `${kind}:${name}`;
  const title = document.createElement('strong');
  title.textContent = `${kind} ${name}`;
  item.append(title, ` ${detail} `);
  item.append(note ?? 'Manual (made here or through the API).');
  return item;
}

/** Live views and pipelines; the transmissions and their outputs have their own list. */
export async function refreshGenerated(): Promise<void> {
  const settings = await api.call<{ camera_live_views: LiveView[]; pipelines: Pipeline[] }>(
    'GET',
    'settings',
  );
  list.replaceChildren(
    ...settings.camera_live_views.map((view) =>
      entry(
        'Live view',
        view.id,
        `(${view.name ?? view.id}) · variants: ${(view.variants ?? [])
          .map((v) => `${v.label ?? v.id} → ${v.transmission_id ?? '?'}`)
          .join(', ')}`,
        view.owner_kind === 'camera_source'
          ? ownerNote({ generated_by: 'camera_source', camera_id: view.camera_id })
          : undefined,
      ),
    ),
    ...settings.pipelines.map((pipeline) => {
      const streaming = pipeline.graph?.meta?.streaming;
      return entry(
        'Pipeline',
        pipeline.name,
        `· into ${streaming?.transmission_id ?? '?'}${streaming?.preset_id ? ` (${streaming.preset_id})` : ''}`,
        streaming ? ownerNote(streaming) : undefined,
      );
    }),
  );
}
