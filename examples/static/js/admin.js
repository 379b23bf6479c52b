export function confirmDelete(form) { return window.confirm('Delete?') && form.submit(); }
