// The Settings page. Cameras: list, add, edit and delete cameras and their video sources, each
// with its "Transmitir esta fonte" publication. Then the engine, the transmissions and the actor
// tree (src/settings/). The API validates; its refusals are shown
// next to the fields they name, and a refused form saves nothing.
import * as api from './api';
import { messageOf } from './demand';
import { button } from './settings/button';
import { refreshEngine, wireEngine } from './settings/engine';
import { refreshActors, refreshTransmissions } from './settings/runtime';
import './style.css';

/** How often the status sections refresh while the page is visible. */
const REFRESH_MS = 2000;

/** What the API shows in place of a stored secret; sent back, it keeps the secret. */
const REDACTED = '********';

interface Origin {
  type?: string;
  rtsp_url?: string | null;
  stream_username?: string | null;
  stream_password?: string | null;
  [other: string]: unknown;
}

interface Source {
  id: string;
  name?: string | null;
  kind?: string;
  enabled?: boolean;
  is_default?: boolean;
  role?: string;
  origin?: Origin;
  [other: string]: unknown;
}

interface Camera {
  id: string;
  name?: string | null;
  sources: Source[];
  [other: string]: unknown;
}

interface Publication {
  camera_id: string | null;
  camera_source_id: string | null;
  enabled: boolean;
}

const message = document.querySelector<HTMLElement>('#message')!;
const list = document.querySelector<HTMLUListElement>('#cameras')!;
const saved = document.querySelector<HTMLElement>('#saved')!;
const form = document.querySelector<HTMLFormElement>('#camera-form')!;
const formTitle = document.querySelector<HTMLElement>('#form-title')!;
const idInput = document.querySelector<HTMLInputElement>('#camera-id')!;
const nameInput = document.querySelector<HTMLInputElement>('#camera-name')!;
const sourcesBox = document.querySelector<HTMLElement>('#sources')!;
const formError = form.querySelector<HTMLElement>('.form-error')!;
const template = document.querySelector<HTMLTemplateElement>('#source-template')!;

/** The camera being edited as the API gave it (fields this form does not show are kept). */
let editing: Camera | undefined;
let publications: Publication[] = [];

const cameraPath = (id: string) => `/api/cameras/${encodeURIComponent(id)}`;

function field<T extends HTMLInputElement | HTMLSelectElement>(box: ParentNode, name: string): T {
  return box.querySelector<T>(`[name="${name}"]`)!;
}

function published(cameraId: string, sourceId: string): boolean {
  const publication = publications.find(
    (p) => p.camera_id === cameraId && p.camera_source_id === sourceId,
  );
  // A new source is published once saved, as the reconciler does for every enabled video source.
  return publication?.enabled ?? true;
}

function addSourceFields(source: Source, cameraId: string | undefined): void {
  const box = template.content.firstElementChild!.cloneNode(true) as HTMLFieldSetElement;
  box.dataset.original = JSON.stringify(source);
  field<HTMLInputElement>(box, 'id').value = source.id;
  field<HTMLInputElement>(box, 'name').value = source.name ?? '';
  field<HTMLSelectElement>(box, 'role').value = ['main', 'sub', 'zoom'].includes(source.role ?? '')
    ? source.role!
    : 'custom';
  field<HTMLInputElement>(box, 'rtsp_url').value = source.origin?.rtsp_url ?? '';
  field<HTMLInputElement>(box, 'stream_username').value = source.origin?.stream_username ?? '';
  // Write-only: a stored password is never put back into the page, only said to exist.
  const password = field<HTMLInputElement>(box, 'stream_password');
  password.value = '';
  if (source.origin?.stream_password) {
    password.placeholder = 'stored; leave blank to keep it';
    box.dataset.hasPassword = 'true';
  }
  field<HTMLInputElement>(box, 'enabled').checked = source.enabled ?? true;
  field<HTMLInputElement>(box, 'is_default').checked = source.is_default ?? false;
  field<HTMLInputElement>(box, 'publish').checked = cameraId
    ? published(cameraId, source.id)
    : true;
  box.querySelector('.remove')!.addEventListener('click', () => {
    box.remove();
    renumber();
  });
  sourcesBox.append(box);
  renumber();
}

/** Each source's fields carry their place in the body (`sources.<i>.…`), as the API's `loc`. */
function renumber(): void {
  sourcesBox.querySelectorAll<HTMLFieldSetElement>('fieldset.source').forEach((box, index) => {
    box.dataset.index = String(index);
    box.querySelector('legend')!.textContent = `Video source ${index + 1}`;
    for (const input of box.querySelectorAll<HTMLElement>('[data-loc]')) {
      input.dataset.path = `sources.${index}.${input.dataset.loc}`;
    }
  });
  idInput.dataset.path = 'id';
  nameInput.dataset.path = 'name';
}

function openForm(camera: Camera | undefined): void {
  editing = camera;
  clearErrors();
  formTitle.textContent = camera ? `Edit ${camera.name ?? camera.id}` : 'Add camera';
  idInput.value = camera?.id ?? '';
  idInput.readOnly = camera !== undefined;
  nameInput.value = camera?.name ?? '';
  sourcesBox.replaceChildren();
  const sources = camera?.sources ?? [{ id: 'main', role: 'main', is_default: true }];
  for (const source of sources) addSourceFields(source, camera?.id);
  form.hidden = false;
  (camera ? nameInput : idInput).focus();
}

/** The camera as the form says: what the API gave, with the form's fields over it. */
function cameraFromForm(): { camera: Camera; publish: Map<string, boolean> } {
  const publish = new Map<string, boolean>();
  const sources = [...sourcesBox.querySelectorAll<HTMLFieldSetElement>('fieldset.source')].map(
    (box) => {
      const original = JSON.parse(box.dataset.original ?? '{}') as Source;
      const value = (name: string) => field<HTMLInputElement>(box, name).value.trim();
      const password = field<HTMLInputElement>(box, 'stream_password').value;
      const keep = box.dataset.hasPassword === 'true' ? REDACTED : null;
      const source: Source = {
        ...original,
        id: value('id'),
        name: value('name') || null,
        role: field<HTMLSelectElement>(box, 'role').value,
        enabled: field<HTMLInputElement>(box, 'enabled').checked,
        is_default: field<HTMLInputElement>(box, 'is_default').checked,
        origin: {
          type: 'rtsp',
          ...original.origin,
          rtsp_url: value('rtsp_url'),
          stream_username: value('stream_username') || null,
          // Blank keeps what is stored; the marker tells the API so.
          stream_password: password === '' ? keep : password,
        },
      };
      // Only an enabled video source has a publication to change.
      if (source.enabled) publish.set(source.id, field<HTMLInputElement>(box, 'publish').checked);
      return source;
    },
  );
  const camera: Camera = {
    ...(editing ?? {}),
    id: idInput.value.trim(),
    name: nameInput.value.trim() || null,
    sources,
  };
  return { camera, publish };
}

function clearErrors(): void {
  formError.textContent = '';
  for (const slot of form.querySelectorAll('.field-error')) slot.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/** Each refusal next to the field its `loc` names; what names no field goes above the buttons. */
function showErrors(error: unknown): void {
  clearErrors();
  const fields = error instanceof api.ApiError ? error.fields : [];
  const unplaced: string[] = [];
  for (const { loc, msg } of fields) {
    const path = loc.replace(/^body\./, '');
    const input = form.querySelector<HTMLElement>(`[data-path="${CSS.escape(path)}"]`);
    const slot = input?.closest('.field')?.querySelector('.field-error');
    if (input && slot) {
      input.setAttribute('aria-invalid', 'true');
      slot.textContent = msg;
    } else {
      unplaced.push(`${path}: ${msg}`);
    }
  }
  if (fields.length === 0) unplaced.push(messageOf(error));
  formError.textContent = unplaced.join('; ');
}

async function save(): Promise<void> {
  const { camera, publish } = cameraFromForm();
  try {
    if (editing) await api.call('PUT', cameraPath(editing.id), camera);
    else await api.call('POST', '/api/cameras', camera);
  } catch (error) {
    showErrors(error);
    return;
  }
  // The camera is saved (and reconciled); now each source whose publication the form changed.
  const failures: string[] = [];
  publications = await api.call<Publication[]>('GET', 'publications');
  for (const [sourceId, wanted] of publish) {
    if (published(camera.id, sourceId) === wanted) continue;
    const path = `publications/camera-sources/${encodeURIComponent(camera.id)}/${encodeURIComponent(sourceId)}`;
    await api
      .call('PUT', path, { enabled: wanted })
      .catch((error: unknown) => failures.push(`${sourceId}: ${messageOf(error)}`));
  }
  form.hidden = true;
  editing = undefined;
  await load();
  saved.textContent = failures.length
    ? `Saved ${camera.name ?? camera.id}, but its publication did not change: ${failures.join('; ')}`
    : `Saved ${camera.name ?? camera.id}.`;
}

function renderCameras(cameras: Camera[]): void {
  list.replaceChildren(
    ...cameras.map((camera) => {
      const item = document.createElement('li');
      // Generated transmissions link here (#camera-<id>).
      item.id = `camera-${camera.id}`;
      const title = camera.name ?? camera.id;
      const name = document.createElement('strong');
      name.textContent = title;
      const sources = document.createElement('span');
      sources.textContent = camera.sources
        .map((s) => `${s.name ?? s.id} (${s.role ?? 'custom'}${published(camera.id, s.id) ? ', transmitted' : ''})`)
        .join(', ');
      const edit = button('Edit', `Edit ${title}`);
      edit.addEventListener('click', () => openForm(camera));
      const remove = button('Delete', `Delete ${title}`);
      remove.addEventListener('click', () => {
        if (!window.confirm(`Delete the camera ${title} and what it publishes?`)) return;
        api.call('DELETE', cameraPath(camera.id)).then(
          () => load().then(() => (saved.textContent = `Deleted ${title}.`)),
          (error: unknown) => (saved.textContent = `Not deleted: ${messageOf(error)}`),
        );
      });
      item.append(name, ' ', sources, ' ', edit, ' ', remove);
      return item;
    }),
  );
}

async function load(): Promise<void> {
  const [cameras, current] = await Promise.all([
    api.call<Camera[]>('GET', '/api/cameras'),
    api.call<Publication[]>('GET', 'publications'),
  ]);
  publications = current;
  renderCameras(cameras);
  await refreshTransmissions(load);
}

/** The status sections, refreshed while the page is visible (a hidden page asks nothing). */
async function refreshStatus(): Promise<void> {
  if (document.hidden) return;
  // Not the lists: re-rendering them would take a keyboard user's focus away.
  await Promise.all([refreshEngine(), refreshActors()]);
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void save();
});
document.querySelector('#add-camera')!.addEventListener('click', () => openForm(undefined));
document.querySelector('#add-source')!.addEventListener('click', () =>
  addSourceFields({ id: '', role: 'custom' }, editing?.id),
);
document.querySelector('#cancel')!.addEventListener('click', () => {
  form.hidden = true;
  editing = undefined;
});

async function main(): Promise<void> {
  const session = await api.signIn();
  if (session.role !== 'admin') {
    message.textContent = 'Settings need the admin sign-in.';
    return;
  }
  wireEngine();
  await load();
  await refreshStatus();
  window.setInterval(() => void refreshStatus().catch(() => {}), REFRESH_MS);
}

main().catch((error: unknown) => {
  message.textContent = messageOf(error);
});
