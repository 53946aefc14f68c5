// The Settings page's transmissions (generated ones read-only, pointing at their owner) and the
// live actor tree from /runtime/actors.
import * as api from '../api';
import { messageOf } from '../demand';
import { button } from './button';

interface Transmission {
  id: string;
  name?: string | null;
  enabled?: boolean;
  outputs?: { id: string; protocol?: string; enabled?: boolean }[];
  generated_by?: string;
  camera_id?: string;
  camera_source_id?: string;
  pipeline_name?: string;
  publish_node_id?: string;
}

interface ActorNode {
  name: string;
  kind: string;
  status: string;
  restarts?: number;
  last_error?: string | null;
  pid?: number | null;
  children?: ActorNode[];
}

interface ResolvedUrl {
  output_id: string;
  protocol: string;
  url: string | null;
  requires_auth: boolean;
  auth_username: string | null;
}

interface Urls {
  outputs: ResolvedUrl[];
  warnings: string[];
  blocking_errors: string[];
}

const transmissionList = document.querySelector<HTMLUListElement>('#transmissions')!;
/** Resolved URLs by transmission, kept across re-renders of the list. */
const resolved = new Map<string, Urls>();
const actorTree = document.querySelector<HTMLUListElement>('#actors')!;

/** Who owns a generated transmission, as a link to where to change it. */
function owner(transmission: Transmission): HTMLElement | undefined {
  if (!transmission.generated_by) return undefined;
  const note = document.createElement('span');
  note.className = 'owner';
  if (transmission.camera_id) {
    const link = document.createElement('a');
    link.href = `#camera-${transmission.camera_id}`;
    link.textContent = `camera ${transmission.camera_id}, source ${transmission.camera_source_id ?? '?'}`;
    note.append(`Generated (${transmission.generated_by}) from `, link, '; change it there.');
  } else {
    note.textContent = `Generated (${transmission.generated_by}) by pipeline ` +
      `${transmission.pipeline_name ?? '?'}, node ${transmission.publish_node_id ?? '?'}; change it there.`;
  }
  return note;
}

export async function refreshTransmissions(onChange: () => Promise<void>): Promise<void> {
  const transmissions = await api.call<Transmission[]>('GET', 'transmissions');
  transmissionList.replaceChildren(
    ...transmissions.map((transmission) => {
      const item = document.createElement('li');
      item.dataset.transmission = transmission.id;
      const name = document.createElement('strong');
      name.textContent = transmission.name ?? transmission.id;
      const outputs = (transmission.outputs ?? []).map((o) => o.id).join(', ');
      const remove = button('Delete', `Delete transmission ${transmission.id}`);
      const note = owner(transmission);
      // Generated artifacts follow their owner; the API refuses to change them (409) anyway.
      remove.disabled = note !== undefined;
      remove.addEventListener('click', () => {
        if (!window.confirm(`Delete the transmission ${transmission.id}?`)) return;
        api.call('DELETE', `transmissions/${encodeURIComponent(transmission.id)}`).then(
          onChange,
          (error: unknown) => window.alert(`Not deleted: ${messageOf(error)}`),
        );
      });
      const resolve = button('Resolve URLs', `Resolve URLs of ${transmission.id}`);
      const urls = document.createElement('div');
      urls.className = 'urls';
      resolve.addEventListener('click', () => {
        // Resolving primes the outputs' demand: a player opening a URL finds its publisher up.
        api.call<Urls>('GET', `transmissions/${encodeURIComponent(transmission.id)}/urls`).then(
          (answer) => {
            resolved.set(transmission.id, answer);
            showUrls(urls, answer);
          },
          (error: unknown) => (urls.textContent = `Not resolved: ${messageOf(error)}`),
        );
      });
      item.append(name, ` ${transmission.id} · outputs: ${outputs || 'none'} `, resolve, ' ', remove);
      if (note) item.append(' ', note);
      const known = resolved.get(transmission.id);
      if (known) showUrls(urls, known);
      item.append(urls);
      return item;
    }),
  );
}

/** Each output's URL with a copy button, and how to authenticate where the output needs it. */
function showUrls(box: HTMLElement, answer: Urls): void {
  const rows = answer.outputs.map((output) => {
    const row = document.createElement('div');
    row.className = 'url';
    const label = document.createElement('span');
    label.textContent = `${output.protocol} ${output.output_id}`;
    const field = document.createElement('input');
    field.readOnly = true;
    field.value = output.url ?? '';
    field.setAttribute('aria-label', `${output.protocol} URL of ${output.output_id}`);
    const copy = button('Copy', `Copy the ${output.protocol} URL of ${output.output_id}`);
    copy.addEventListener('click', () => {
      navigator.clipboard.writeText(field.value).then(
        () => (copy.textContent = 'Copied'),
        () => field.select(),
      );
    });
    row.append(label, ' ', field, ' ', copy);
    if (output.requires_auth) {
      // Credentials never ride in URLs; the player asks for them.
      row.append(` Needs Basic auth as ${output.auth_username ?? 'the output user'} with the password set on this output.`);
    }
    return row;
  });
  const notes = [...answer.blocking_errors, ...answer.warnings].map((text) => {
    const line = document.createElement('p');
    line.className = 'owner';
    line.textContent = text;
    return line;
  });
  box.replaceChildren(...rows, ...notes);
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

export async function refreshActors(): Promise<void> {
  const root = await api.call<ActorNode>('GET', 'runtime/actors');
  actorTree.replaceChildren(actorItem(root));
}
