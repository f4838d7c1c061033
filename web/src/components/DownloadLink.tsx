/** "Save to device": the file URL gets a fresh access token at click time (a stored one may have expired). */
import type { MouseEvent, ReactNode } from 'react';
import { withAccessToken } from '../api/client';

export function DownloadLink({ path, className, children }: { path: string; className?: string; children: ReactNode }) {
  const save = async (e: MouseEvent<HTMLAnchorElement>) => {
    e.preventDefault();
    const a = document.createElement('a');
    a.href = await withAccessToken(path);
    a.download = '';
    document.body.append(a);
    a.click();
    a.remove();
  };
  return (
    <a className={className} href={path} download onClick={(e) => void save(e)}>
      {children}
    </a>
  );
}
