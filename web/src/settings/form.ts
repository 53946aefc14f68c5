// What every Settings form shares: the API's refusals shown next to the field each `loc` names
// (an input's `data-path`, e.g. `sources.0.origin.rtsp_url`), the rest above the buttons.
import * as api from '../api';

export function clearErrors(form: HTMLFormElement): void {
  for (const slot of form.querySelectorAll('.field-error, .form-error')) slot.textContent = '';
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

/** The input for `path`, or for the nearest path above it (a list's field for one of its items). */
function inputAt(form: HTMLFormElement, path: string): HTMLElement | null {
  const parts = path.split('.');
  for (let length = parts.length; length > 0; length -= 1) {
    const found = form.querySelector<HTMLElement>(
      `[data-path="${CSS.escape(parts.slice(0, length).join('.'))}"]`,
    );
    if (found) return found;
  }
  return null;
}

/** `prefix`: the part of `loc` the form's paths leave out (`body.engine.` for the engine form). */
export function showErrors(form: HTMLFormElement, error: unknown, prefix = 'body.'): void {
  clearErrors(form);
  const fields = error instanceof api.ApiError ? error.fields : [];
  const unplaced: string[] = [];
  for (const { loc, msg } of fields) {
    const path = loc.startsWith(prefix) ? loc.slice(prefix.length) : loc.replace(/^body\./, '');
    const input = inputAt(form, path);
    const slot = input?.closest('.field')?.querySelector('.field-error');
    if (input && slot) {
      input.setAttribute('aria-invalid', 'true');
      slot.textContent = msg;
    } else {
      unplaced.push(`${path}: ${msg}`);
    }
  }
  if (fields.length === 0) unplaced.push(api.messageOf(error));
  form.querySelector('.form-error')!.textContent = unplaced.join('; ');
}

/**
 * Each repeated fieldset's inputs carry their place in the body (`<list>.<i>.<loc>`), as the API's
 * `loc` names them; `legend` titles each one by its number.
 */
function renumber(box: ParentNode, list: string, legend: string): void {
  box.querySelectorAll<HTMLFieldSetElement>(':scope > fieldset').forEach((set, index) => {
    set.querySelector('legend')!.textContent = `${legend} ${index + 1}`;
    for (const input of set.querySelectorAll<HTMLElement>('[data-loc]')) {
      input.dataset.path = `${list}.${index}.${input.dataset.loc}`;
    }
  });
}

export function field<T extends HTMLInputElement | HTMLSelectElement>(
  box: ParentNode,
  name: string,
): T {
  return box.querySelector<T>(`[name="${name}"]`)!;
}

/** Adds a repeated fieldset to `container`; its Remove button takes it out. Both renumber. */
export function appendRepeated(
  container: HTMLElement,
  box: HTMLFieldSetElement,
  list: string,
  legend: string,
): void {
  box.querySelector('.remove')!.addEventListener('click', () => {
    box.remove();
    renumber(container, list, legend);
  });
  container.append(box);
  renumber(container, list, legend);
}
