// The Settings page's runtime view, refreshed while the page is visible: health per transmission,
// each output's publisher and why it runs, the pipelines, and the live actor tree.
import * as api from '../api';

interface ActorNode {
  name: string;
  kind: string;
  status: string;
  restarts?: number;
  last_error?: string | null;
  pid?: number | null;
  children?: ActorNode[];
}

interface TransmissionHealth {
  transmission_id: string;
  status: string;
  classification: string;
  selected_writer_id: string | null;
  fallback_reason: string | null;
  selected_frame_age_seconds: number | null;
  summary_message: string;
}

interface OutputStatus {
  output_key: string;
  protocol: string;
  publisher_state?: string;
  pid?: number | null;
  publisher_frames_sent_rate: number | null;
  restarts?: number;
  last_error?: string | null;
  demand?: { why?: string };
}

interface PipelineLink {
  pipeline_name: string;
  transmission_id: string;
  camera_id: string | null;
  camera_source_id: string | null;
  mode?: string;
  reader_state?: string;
  stream_behavior: string;
  warnings: string[];
}

const actorTree = document.querySelector<HTMLUListElement>('#actors')!;
const healthTable = document.querySelector<HTMLTableSectionElement>('#health tbody')!;
const outputsTable = document.querySelector<HTMLTableSectionElement>('#outputs tbody')!;
const pipelinesTable = document.querySelector<HTMLTableSectionElement>('#pipelines tbody')!;

const dash = '—';
const seconds = (value: number | null) => (value === null ? dash : `${value.toFixed(1)} s`);

/** Rows of plain text cells; `key` names each row for tests and screen-reader users alike. */
function fill(body: HTMLTableSectionElement, rows: { key: string; cells: string[] }[]): void {
  body.replaceChildren(
    ...rows.map(({ key, cells }) => {
      const row = document.createElement('tr');
      row.dataset.key = key;
      const [first, ...rest] = cells;
      const header = document.createElement('th');
      header.scope = 'row';
      header.textContent = first;
      row.append(header);
      for (const text of rest) {
        const cell = document.createElement('td');
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
}

async function refreshHealth(): Promise<void> {
  const [health, outputs, pipelines] = await Promise.all([
    api.call<{ transmissions: TransmissionHealth[] }>('GET', 'runtime/health'),
    api.call<{ outputs: OutputStatus[] }>('GET', 'runtime/outputs'),
    api.call<{ pipelines: PipelineLink[] }>('GET', 'runtime/pipelines'),
  ]);
  fill(
    healthTable,
    health.transmissions.map((t) => ({
      key: t.transmission_id,
      cells: [
        t.transmission_id,
        t.status,
        t.classification,
        t.selected_writer_id ?? dash,
        t.fallback_reason ?? dash,
        seconds(t.selected_frame_age_seconds),
        t.summary_message,
      ],
    })),
  );
  fill(
    outputsTable,
    outputs.outputs.map((o) => ({
      key: o.output_key,
      cells: [
        o.output_key,
        o.protocol,
        o.publisher_state ?? dash,
        String(o.pid ?? dash),
        o.publisher_frames_sent_rate === null ? dash : o.publisher_frames_sent_rate.toFixed(1),
        String(o.restarts ?? 0),
        o.demand?.why ?? dash,
        o.last_error ?? dash,
      ],
    })),
  );
  fill(
    pipelinesTable,
    pipelines.pipelines.map((p) => ({
      key: `${p.pipeline_name}:${p.transmission_id}`,
      cells: [
        p.pipeline_name,
        p.transmission_id,
        p.camera_id ? `${p.camera_id} / ${p.camera_source_id ?? dash}` : dash,
        p.mode ?? dash,
        p.reader_state ?? dash,
        p.stream_behavior,
        p.warnings.join(' ') || dash,
      ],
    })),
  );
}

function actorItem(node: ActorNode): HTMLLIElement {
  const item = document.createElement('li');
  item.dataset.actor = node.name;
  const facts = [node.kind, node.status];
  if (node.pid) facts.push(`pid ${node.pid}`);
  facts.push(`restarts ${node.restarts ?? 0}`);
  if (node.last_error) facts.push(`last error: ${node.last_error}`);
  const name = document.createElement('strong');
  name.textContent = node.name;
  item.append(name, ` (${facts.join(', ')})`);
  if (node.children?.length) {
    const children = document.createElement('ul');
    children.append(...node.children.map(actorItem));
    item.append(children);
  }
  return item;
}

async function refreshActors(): Promise<void> {
  const root = await api.call<ActorNode>('GET', 'runtime/actors');
  actorTree.replaceChildren(actorItem(root));
}

export async function refreshRuntime(): Promise<void> {
  await Promise.all([refreshHealth(), refreshActors()]);
}
