/**
 * After an item is removed from a page: its buttons are gone with it, so
 * focus moves to the page heading (once the confirm dialog has closed, since
 * nothing outside a modal dialog takes focus), and a status line says what went.
 */
import { useEffect, useRef, useState } from 'react';

export function useRemovalNotice() {
  const heading = useRef<HTMLHeadingElement>(null);
  // An object, so removing two items with the same name moves focus both times.
  const [notice, setNotice] = useState<{ text: string } | null>(null);
  useEffect(() => {
    if (notice) heading.current?.focus();
  }, [notice]);
  const status = (
    <p className="visually-hidden" role="status">
      {notice?.text}
    </p>
  );
  return { heading, status, announce: (text: string) => setNotice({ text }) };
}
