// The Settings page. Cameras: list, add, edit and delete cameras and their video sources, each
// with its "Transmitir esta fonte" publication. Then the engine, the transmissions and the actor
// tree (src/settings/). The API validates; its refusals are shown
// next to the fields they name, and a refused form saves nothing.
import * as api from './api';
import { button } from './settings/button';
import { appendRepeated, clearErrors, field, showErrors } from './settings/form';
import { showWriteOnly, writeOnlyValue } from './settings/secrets';
import { loadNetwork, refreshEngine, wireEngine } from './settings/engine';
import { refreshRuntime } from './settings/runtime';
import { refreshTransmissions } from './settings/transmissions';
import { fillWizard } from './settings/wizard';
import { refreshGenerated } from './settings/generated';
import './style.css';

/** How often the status sections refresh while the page is visible. */
const REFRESH_MS = 2000;


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
const template = document.querySelector<HTMLTemplateElement>('#source-template')!;

/** The camera being edited as the API gave it (fields this form does not show are kept). */
let editing: Camera | undefined;
let publications: Publication[] = [];

const cameraPath = (id: string) => `/api/cameras/${encodeURIComponent(id)}`;

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
  showWriteOnly(field(box, 'stream_password'), source.origin?.stream_password);
  field<HTMLInputElement>(box, 'enabled').checked = source.enabled ?? true;
  field<HTMLInputElement>(box, 'is_default').checked = source.is_default ?? false;
  field<HTMLInputElement>(box, 'publish').checked = cameraId
    ? published(cameraId, source.id)
    : true;
  appendRepeated(sourcesBox, box, 'sources', 'Video source');
}

function openForm(camera: Camera | undefined): void {
  editing = camera;
  clearErrors(form);
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
          stream_password: writeOnlyValue(field(box, 'stream_password')),
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

async function save(): Promise<void> {
  const { camera, publish } = cameraFromForm();
  try {
    if (editing) await api.call('PUT', cameraPath(editing.id), camera);
    else await api.call('POST', '/api/cameras', camera);
  } catch (error) {
    showErrors(form, error);
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
      .catch((error: unknown) => failures.push(`${sourceId}: ${api.messageOf(error)}`));
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
          (error: unknown) => (saved.textContent = `Not deleted: ${api.messageOf(error)}`),
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
  fillWizard(await refreshTransmissions(load), cameras);
  await refreshGenerated();
}

/** The status sections, refreshed while the page is visible (a hidden page asks nothing). */
async function refreshStatus(): Promise<void> {
  if (document.hidden) return;
  // Not the lists: re-rendering them would take a keyboard user's focus away.
  await Promise.all([refreshEngine(), refreshRuntime()]);
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
  await Promise.all([load(), loadNetwork()]);
  await refreshStatus();
  window.setInterval(() => void refreshStatus().catch(() => {}), REFRESH_MS);
}

main().catch((error: unknown) => {
  message.textContent = api.messageOf(error);
});
