/** The signed-in key (its role decides which buttons are shown) and navigation between pages. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { covers, type Me, type Role } from './api';

export const MeContext = createContext<Me>({
  keyId: null,
  name: '',
  role: 'viewer',
  temporal: { namespace: 'default', uiUrl: '' },
});
export const useMe = (): Me => useContext(MeContext);

/** May the signed-in key do what needs `role`? Buttons it may not use are not shown. */
export function useCan(): (role: Role) => boolean {
  const me = useMe();
  return (role: Role) => covers(me.role, role);
}

export function navigate(hash: string): void {
  window.location.hash = hash;
}
