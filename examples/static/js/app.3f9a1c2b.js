document.addEventListener('DOMContentLoaded', () => { document.body.classList.add('ready'); });
