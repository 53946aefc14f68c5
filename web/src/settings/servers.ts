// The Settings page's processing servers (distributed mode): list, add, edit, delete, with a
// write-only password; saved as the whole list with `PATCH /settings`. The transmission form's
// "Runs on" offers them.
import * as api from '../api';
import { button } from './button';
import { clearErrors, field, showErrors } from './form';
import { showWriteOnly, writeOnlyValue } from './secrets';

interface Server {
  id: string;
  name?: string;
  url?: string;
  kind?: string;
  username?: string | null;
  password?: string | null;
  [other: string]: unknown;
}

const list = document.querySelector<HTMLUListElement>('#servers')!;
const form = document.querySelector<HTMLFormElement>('#server-form')!;
const title = document.querySelector<HTMLElement>('#server-form-title')!;
const saved = document.querySelector<HTMLElement>('#server-saved')!;
const hostSelect = document.querySelector<HTMLSelectElement>('#transmission-host')!;
let servers: Server[] = [];
/** The index being edited (the list's length for a new one). */
let editing = 0;

/** The form's inputs name their place in the list, as the API's `loc` does. */
function placeFields(index: number): void {
  for (const input of form.querySelectorAll<HTMLElement>('[data-loc]')) {
    input.dataset.path = `processing_servers.${index}.${input.dataset.loc}`;
  }
}

function openForm(index: number): void {
  editing = index;
  const server: Server | undefined = servers[index];
  clearErrors(form);
  placeFields(index);
  title.textContent = server ? `Edit processing server ${server.name || server.id}` : 'Add processing server';
  field<HTMLInputElement>(form, 'id').value = server?.id ?? '';
  field<HTMLInputElement>(form, 'id').readOnly = server !== undefined;
  field<HTMLInputElement>(form, 'name').value = server?.name ?? '';
  field<HTMLInputElement>(form, 'url').value = server?.url ?? '';
  field<HTMLInputElement>(form, 'username').value = server?.username ?? '';
  showWriteOnly(field(form, 'password'), server?.password);
  form.hidden = false;
  field<HTMLInputElement>(form, server ? 'name' : 'id').focus();
}

async function store(next: Server[], done: string): Promise<boolean> {
  try {
    const answer = await api.call<{ processing_servers: Server[] }>('PATCH', 'settings', {
      processing_servers: next,
    });
    showServers(answer.processing_servers);
    saved.textContent = done;
    return true;
  } catch (error) {
    if (form.hidden) window.alert(`Not changed: ${api.messageOf(error)}`);
    else showErrors(form, error);
    return false;
  }
}

async function save(): Promise<void> {
  const value = (name: string) => field<HTMLInputElement>(form, name).value.trim();
  const server: Server = {
    ...(servers[editing] ?? {}),
    id: value('id'),
    name: value('name'),
    url: value('url'),
    username: value('username') || null,
    password: writeOnlyValue(field(form, 'password')),
  };
  const next = [...servers];
  next[editing] = server;
  if (await store(next, `Saved processing server ${server.name || server.id}.`)) form.hidden = true;
}

export function showServers(current: Server[]): void {
  servers = current;
  list.replaceChildren(
    ...servers.map((server, index) => {
      const item = document.createElement('li');
      item.dataset.server = server.id;
      const name = document.createElement('strong');
      name.textContent = server.name || server.id;
      const edit = button('Edit', `Edit processing server ${server.id}`);
      edit.addEventListener('click', () => openForm(index));
      const remove = button('Delete', `Delete processing server ${server.id}`);
      remove.addEventListener('click', () => {
        if (!window.confirm(`Delete the processing server ${server.id}?`)) return;
        void store(
          servers.filter((_, i) => i !== index),
          `Deleted processing server ${server.id}.`,
        );
      });
      item.append(name, ` ${server.id} · ${server.url ?? ''} `, edit, ' ', remove);
      return item;
    }),
  );
  const kept = hostSelect.value;
  hostSelect.replaceChildren(
    new Option('this server', 'local'),
    ...servers.map((s) => new Option(s.name ? `${s.name} (${s.id})` : s.id, s.id)),
  );
  hostSelect.value = [...hostSelect.options].some((o) => o.value === kept) ? kept : 'local';
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void save();
});
document.querySelector('#add-server')!.addEventListener('click', () => openForm(servers.length));
document.querySelector('#cancel-server')!.addEventListener('click', () => {
  form.hidden = true;
});
