// The Settings page's transmissions: generated ones read-only, pointing at their owner; manual
// ones created, edited and deleted here; each one's URLs resolved with copy buttons.
import * as api from '../api';
import { button } from './button';
import { appendRepeated, clearErrors, field, showErrors } from './form';
import { ownerNote } from './generated';
import { showWriteOnly, writeOnlyValue } from './secrets';

interface Output {
  id: string;
  protocol?: string;
  enabled?: boolean;
  resolution?: { width: number; height: number } | null;
  fps_limit?: number | null;
  bitrate_kbps?: number | null;
  latency_profile?: string;
  authentication?: { enabled?: boolean; username?: string | null; password?: string | null } | null;
  [other: string]: unknown;
}

export interface Transmission {
  id: string;
  name?: string | null;
  path?: string;
  enabled?: boolean;
  host_server_id?: string;
  placeholder?: string;
  arbitration?: string;
  outputs?: Output[];
  generated_by?: string;
  camera_id?: string;
  camera_source_id?: string;
  pipeline_name?: string;
  publish_node_id?: string;
  [other: string]: unknown;
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

/** Draws the list and returns what it drew; `onChange` redraws the page after a change here. */
export async function refreshTransmissions(onChange: () => Promise<void>): Promise<Transmission[]> {
  changed = onChange;
  const transmissions = await api.call<Transmission[]>('GET', 'transmissions');
  transmissionList.replaceChildren(
    ...transmissions.map((transmission) => {
      const item = document.createElement('li');
      item.dataset.transmission = transmission.id;
      const name = document.createElement('strong');
      name.textContent = transmission.name ?? transmission.id;
      const outputs = (transmission.outputs ?? []).map((o) => o.id).join(', ');
      const edit = button('Edit', `Edit transmission ${transmission.id}`);
      const remove = button('Delete', `Delete transmission ${transmission.id}`);
      const note = ownerNote(transmission);
      // Generated artifacts follow their owner; the API refuses to change them (409) anyway.
      edit.disabled = note !== undefined;
      remove.disabled = note !== undefined;
      edit.addEventListener('click', () => openForm(transmission));
      remove.addEventListener('click', () => {
        if (!window.confirm(`Delete the transmission ${transmission.id}?`)) return;
        api.call('DELETE', `transmissions/${encodeURIComponent(transmission.id)}`).then(
          onChange,
          (error: unknown) => window.alert(`Not deleted: ${api.messageOf(error)}`),
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
          (error: unknown) => (urls.textContent = `Not resolved: ${api.messageOf(error)}`),
        );
      });
      item.append(name, ` ${transmission.id} · outputs: ${outputs || 'none'} `, resolve, ' ', edit, ' ', remove);
      if (note) item.append(' ', note);
      const known = resolved.get(transmission.id);
      if (known) showUrls(urls, known);
      item.append(urls);
      return item;
    }),
  );
  return transmissions;
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


const form = document.querySelector<HTMLFormElement>('#transmission-form')!;
const formTitle = document.querySelector<HTMLElement>('#transmission-form-title')!;
const outputsBox = document.querySelector<HTMLElement>('#outputs-fields')!;
const outputTemplate = document.querySelector<HTMLTemplateElement>('#output-template')!;
const saved = document.querySelector<HTMLElement>('#transmission-saved')!;
/** The transmission being edited as the API gave it (fields this form does not show are kept). */
let editing: Transmission | undefined;
/** Redraws the page's lists after a change (the cameras' page loader). */
let changed: () => Promise<void> = async () => {};

const numberOr = (input: HTMLInputElement) => (input.value === '' ? null : Number(input.value));

function addOutputFields(output: Output): void {
  const box = outputTemplate.content.firstElementChild!.cloneNode(true) as HTMLFieldSetElement;
  box.dataset.original = JSON.stringify(output);
  field<HTMLInputElement>(box, 'id').value = output.id;
  field<HTMLSelectElement>(box, 'protocol').value = output.protocol ?? 'hls';
  field<HTMLInputElement>(box, 'width').value = String(output.resolution?.width ?? '');
  field<HTMLInputElement>(box, 'height').value = String(output.resolution?.height ?? '');
  field<HTMLInputElement>(box, 'fps_limit').value = String(output.fps_limit ?? '');
  field<HTMLInputElement>(box, 'bitrate_kbps').value = String(output.bitrate_kbps ?? '');
  field<HTMLSelectElement>(box, 'latency_profile').value = output.latency_profile ?? 'normal';
  field<HTMLInputElement>(box, 'enabled').checked = output.enabled ?? true;
  field<HTMLInputElement>(box, 'auth_enabled').checked = output.authentication?.enabled ?? false;
  field<HTMLInputElement>(box, 'auth_username').value = output.authentication?.username ?? '';
  showWriteOnly(field(box, 'auth_password'), output.authentication?.password);
  appendRepeated(outputsBox, box, 'outputs', 'Output');
}

function openForm(transmission: Transmission | undefined): void {
  editing = transmission;
  clearErrors(form);
  formTitle.textContent = transmission
    ? `Edit transmission ${transmission.name || transmission.id}`
    : 'Add transmission';
  field<HTMLInputElement>(form, 'name').value = transmission?.name ?? '';
  field<HTMLInputElement>(form, 'path').value = transmission?.path ?? '';
  field<HTMLSelectElement>(form, 'placeholder').value = transmission?.placeholder ?? 'gray';
  field<HTMLSelectElement>(form, 'arbitration').value =
    transmission?.arbitration ?? 'priority_latest';
  field<HTMLInputElement>(form, 'enabled').checked = transmission?.enabled ?? true;
  field<HTMLSelectElement>(form, 'host_server_id').value = transmission?.host_server_id ?? 'local';
  outputsBox.replaceChildren();
  const outputs = transmission?.outputs ?? [{ id: 'hls', protocol: 'hls' }];
  for (const output of outputs) addOutputFields(output);
  form.hidden = false;
  field<HTMLInputElement>(form, 'name').focus();
}

function outputFromFields(box: HTMLFieldSetElement): Output {
  const original = JSON.parse(box.dataset.original ?? '{}') as Output;
  const width = numberOr(field(box, 'width'));
  const height = numberOr(field(box, 'height'));
  const username = field<HTMLInputElement>(box, 'auth_username').value.trim();
  const password = writeOnlyValue(field(box, 'auth_password'));
  const authEnabled = field<HTMLInputElement>(box, 'auth_enabled').checked;
  return {
    ...original,
    id: field<HTMLInputElement>(box, 'id').value.trim(),
    protocol: field<HTMLSelectElement>(box, 'protocol').value,
    enabled: field<HTMLInputElement>(box, 'enabled').checked,
    // Half a size is sent as it is, so the API names the missing half.
    resolution: width === null && height === null ? null : ({ width, height } as Output['resolution']),
    fps_limit: numberOr(field(box, 'fps_limit')),
    bitrate_kbps: numberOr(field(box, 'bitrate_kbps')),
    latency_profile: field<HTMLSelectElement>(box, 'latency_profile').value,
    authentication:
      authEnabled || username || password
        ? { enabled: authEnabled, username: username || null, password }
        : null,
  };
}

async function save(): Promise<void> {
  const outputs = [...outputsBox.querySelectorAll<HTMLFieldSetElement>(':scope > fieldset')].map(
    outputFromFields,
  );
  const body = {
    name: field<HTMLInputElement>(form, 'name').value.trim(),
    path: field<HTMLInputElement>(form, 'path').value.trim(),
    enabled: field<HTMLInputElement>(form, 'enabled').checked,
    placeholder: field<HTMLSelectElement>(form, 'placeholder').value,
    arbitration: field<HTMLSelectElement>(form, 'arbitration').value,
    host_server_id: field<HTMLSelectElement>(form, 'host_server_id').value,
    outputs,
  };
  let answer: Transmission;
  try {
    answer = editing
      ? await api.call<Transmission>('PUT', `transmissions/${encodeURIComponent(editing.id)}`, {
          ...editing,
          ...body,
        })
      : await api.call<Transmission>('POST', 'transmissions', body);
  } catch (error) {
    showErrors(form, error);
    return;
  }
  form.hidden = true;
  editing = undefined;
  saved.textContent = `Saved transmission ${answer.name || answer.id}.`;
  await changed();
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void save();
});
document.querySelector('#add-transmission')!.addEventListener('click', () => openForm(undefined));
document.querySelector('#add-output')!.addEventListener('click', () =>
  addOutputFields({ id: '', protocol: 'hls' }),
);
document.querySelector('#cancel-transmission')!.addEventListener('click', () => {
  form.hidden = true;
  editing = undefined;
});
