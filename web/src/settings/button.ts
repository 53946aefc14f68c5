/** A plain button whose accessible name says what it acts on (the text alone may not). */
export function button(text: string, label: string): HTMLButtonElement {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = text;
  element.setAttribute('aria-label', label);
  return element;
}
