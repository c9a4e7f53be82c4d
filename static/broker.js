// Placeholder: the browser session helper.
export {};
