/**
 * "Are you sure?" for actions that cannot be undone: a modal <dialog>, so
 * the browser traps focus inside it, Escape cancels, and focus goes back to
 * the button that opened it when it closes. Focus starts on Cancel, the safe
 * choice. An error from the action is shown inside, in words, and the dialog
 * stays open for another try.
 */
import { useEffect, useId, useRef, useState } from 'react';
import { useI18n } from '../i18n/i18n';
import { ErrorNotice } from './feedback';

interface Props {
  title: string;
  message: string;
  confirmLabel: string;
  /** Runs the action; the dialog closes when it resolves. */
  onConfirm: () => Promise<void>;
  onClose: () => void;
}

export function ConfirmDialog({ title, message, confirmLabel, onConfirm, onClose }: Props) {
  const { t } = useI18n();
  const id = useId();
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    cancel.current?.focus();
    return () => d?.close();
  }, []);

  // Closed while still in the page, so the browser puts focus back on the button that opened it.
  const close = () => {
    dialog.current?.close();
    onClose();
  };

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      close();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialog}
      className="card confirm-dialog"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-message`}
      onCancel={(e) => {
        // Escape: closed by us, so React state and the element agree (and not while the action runs).
        e.preventDefault();
        if (!busy) close();
      }}
    >
      <h2 id={`${id}-title`}>{title}</h2>
      <p id={`${id}-message`}>{message}</p>
      {error !== null && <ErrorNotice error={error} />}
      <div className="task-actions">
        <button type="button" className="btn btn-secondary" ref={cancel} disabled={busy} onClick={close}>
          {t('common.cancel')}
        </button>
        <button type="button" className="btn btn-danger" disabled={busy} onClick={() => void confirm()}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
