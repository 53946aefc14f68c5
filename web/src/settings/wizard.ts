// The Settings page's wizard: a pipeline from a transmission, a camera source and one of the five
// presets (POST /wizard/create-pipeline). What the API warns (an event-gated graph, the engine
// not running) is shown with the result.
import * as api from '../api';
import { clearErrors, field, showErrors } from './form';
import { refreshGenerated } from './generated';
import type { Transmission } from './transmissions';

interface CameraChoice {
  id: string;
  name?: string | null;
  sources: { id: string; name?: string | null; kind?: string; enabled?: boolean }[];
}

interface Created {
  pipeline_name: string;
  transmission_id: string;
  camera_id: string;
  camera_source_id: string | null;
  preset_id: string;
  engine_running: boolean;
  warnings: string[];
}

const form = document.querySelector<HTMLFormElement>('#wizard-form')!;
const result = form.querySelector<HTMLElement>('.wizard-result')!;
let cameras: CameraChoice[] = [];

function options(select: HTMLSelectElement, choices: [string, string][]): void {
  const kept = select.value;
  select.replaceChildren(
    ...choices.map(([value, text]) => {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = text;
      return option;
    }),
  );
  if (choices.some(([value]) => value === kept)) select.value = kept;
}

function fillSources(): void {
  const camera = cameras.find((c) => c.id === field<HTMLSelectElement>(form, 'camera_id').value);
  const sources = (camera?.sources ?? []).filter((s) => s.enabled !== false);
  options(field(form, 'camera_source_id'), [
    ['', 'the default source'],
    ...sources.map((s): [string, string] => [s.id, s.name ?? s.id]),
  ]);
}

/** Offers the transmissions and cameras the page has just drawn. */
export function fillWizard(transmissions: Transmission[], choices: CameraChoice[]): void {
  cameras = choices;
  options(
    field(form, 'transmission_id'),
    transmissions.map((t) => [t.id, t.name ? `${t.name} (${t.id})` : t.id]),
  );
  options(
    field(form, 'camera_id'),
    choices.map((c) => [c.id, c.name ?? c.id]),
  );
  fillSources();
}

async function create(): Promise<void> {
  result.replaceChildren();
  const pipelineName = field<HTMLInputElement>(form, 'pipeline_name').value.trim();
  let created: Created;
  try {
    created = await api.call<Created>('POST', 'wizard/create-pipeline', {
      transmission_id: field<HTMLSelectElement>(form, 'transmission_id').value,
      camera_id: field<HTMLSelectElement>(form, 'camera_id').value,
      camera_source_id: field<HTMLSelectElement>(form, 'camera_source_id').value || null,
      preset_id: field<HTMLSelectElement>(form, 'preset_id').value,
      optional_parameters: {
        pipeline_name: pipelineName || null,
        stream_behavior: field<HTMLSelectElement>(form, 'stream_behavior').value,
      },
    });
  } catch (error) {
    showErrors(form, error);
    return;
  }
  clearErrors(form);
  const line = document.createElement('p');
  line.textContent =
    `Created the pipeline ${created.pipeline_name}: camera ${created.camera_id}` +
    `${created.camera_source_id ? `, source ${created.camera_source_id}` : ''} into ` +
    `${created.transmission_id} (${created.preset_id}).`;
  const warnings = document.createElement('ul');
  warnings.setAttribute('aria-label', 'Wizard warnings');
  warnings.append(
    ...created.warnings.map((text) => {
      const item = document.createElement('li');
      item.textContent = text;
      return item;
    }),
  );
  result.append(line, warnings);
  await refreshGenerated();
}

field<HTMLSelectElement>(form, 'camera_id').addEventListener('change', fillSources);
form.addEventListener('submit', (event) => {
  event.preventDefault();
  void create();
});
