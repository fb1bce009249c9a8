// Folder picker used for "Move to…".
import { h, icon, put } from '../dom.js';
import { get, post, session } from '../api.js';
import { modal, promptDialog, spinner, errorBox } from '../ui.js';
import { validateFolderName } from '../common.js';

/**
 * pickFolder({title, excludeIds, startId, confirmLabel}) → Promise<{id, name} | undefined>
 * excludeIds: folders being moved (cannot move a folder into itself).
 */
export function pickFolder({ title = 'Move to…', excludeIds = [], startId, confirmLabel = 'Move here' } = {}) {
  const exclude = new Set(excludeIds);
  return modal({
    title, testid: 'move-dialog', wide: true,
    build: (close) => {
      let current = null;
      const crumbs = h('ol', { class: 'breadcrumbs small' });
      const list = h('ul', { class: 'picker-list', role: 'listbox', 'aria-label': 'Folders' });
      const status = h('p', { class: 'muted small picker-status', role: 'status' });
      const confirm = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'move-confirm', disabled: true }, confirmLabel);
      const newBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'move-new-folder' }, icon('folderPlus', 16), 'New folder');

      async function open(id) {
        put(list, h('li', null, spinner()));
        confirm.disabled = true;
        try {
          const [folder, children] = await Promise.all([
            get(`/folders/${id}`),
            get(`/folders/${id}/children`, { page: 1, page_size: 500, sort: 'name' }),
          ]);
          current = folder;
          const bc = folder.breadcrumbs && folder.breadcrumbs.length ? folder.breadcrumbs : [{ id: folder.id, name: folder.name }];
          put(crumbs, ...bc.map((b, i) => h('li', null,
            i === bc.length - 1 ? h('span', { 'aria-current': 'location' }, b.name)
              : h('button', { type: 'button', class: 'link-btn', onclick: () => open(b.id) }, b.name))));
          const folders = children.items.filter((it) => it.type === 'folder');
          put(list, ...folders.map((f) => {
            const disabled = exclude.has(f.id);
            return h('li', null, h('button', {
              type: 'button', class: 'picker-item', role: 'option', 'data-testid': 'move-folder', 'data-folder-id': f.id,
              disabled, title: disabled ? 'Cannot move a folder into itself' : `Open ${f.name}`,
              onclick: () => open(f.id),
            }, icon('folder', 18), h('span', null, f.name), icon('chevronRight', 16)));
          }));
          if (!folders.length) list.append(h('li', { class: 'muted small picker-empty' }, 'No subfolders'));
          const inside = exclude.has(folder.id) || (folder.breadcrumbs || []).some((b) => exclude.has(b.id));
          confirm.disabled = inside;
          status.textContent = inside ? 'A folder cannot be moved into itself.' : `Destination: ${folder.name}`;
        } catch (e) {
          put(list, h('li', null, errorBox(e, () => open(id))));
        }
      }

      newBtn.addEventListener('click', async () => {
        if (!current) return;
        const f = await promptDialog({
          title: 'New folder', label: `Name of the new folder in “${current.name}”`, confirmLabel: 'Create', testid: 'new-folder',
          validate: validateFolderName,
          submit: (name) => post('/folders', { name, parent_id: current.id }),
        });
        if (f) open(f.id);
      });
      confirm.addEventListener('click', () => current && close({ id: current.id, name: current.name }));

      const quick = h('div', { class: 'picker-roots' },
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => open(session.roots.home.id) }, icon('home', 16), 'Home'),
        h('button', { type: 'button', class: 'btn btn-small', onclick: () => open(session.roots.inbox.id) }, icon('inbox', 16), 'Inbox'));
      open(startId || session.roots.home.id);
      return [quick, h('nav', { 'aria-label': 'Destination path' }, crumbs), list, status,
        h('div', { class: 'dialog-actions' }, newBtn, h('span', { class: 'spacer' }),
          h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), confirm)];
    },
    onOpen: (dlg) => dlg.querySelector('.picker-roots .btn').focus(),
  });
}
