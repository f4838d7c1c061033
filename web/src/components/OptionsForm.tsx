/** Audio-only toggle, quality, container, codec and audio language: the choices a download is made with. */
import { useId } from 'react';
import type { Format } from '../api/types';
import { useI18n } from '../i18n/i18n';
import { formatBytes } from '../lib/format';
import {
  AUDIO_CONTAINERS,
  CODECS,
  QUALITIES,
  VIDEO_CONTAINERS,
  audioLanguages,
  offeredCodecs,
  offeredQualities,
  sizeAt,
  type Choice,
  type AudioContainer,
  type Codec,
  type Quality,
  type VideoContainer,
} from '../lib/options';

export function OptionsForm({
  choice,
  onChange,
  formats,
}: {
  choice: Choice;
  onChange: (c: Choice) => void;
  /** The video's formats; without them (playlists) every quality is offered. */
  formats?: Format[];
}) {
  const { t, lang } = useI18n();
  const id = useId();
  // The user's default stays selectable even when the video lacks it: the server then takes the best below it.
  const offered = formats ? offeredQualities(formats) : [...QUALITIES];
  const qualities = QUALITIES.filter((q) => offered.includes(q) || q === choice.quality);
  const codecs = formats ? offeredCodecs(formats) : [...CODECS];
  const languages = formats ? audioLanguages(formats) : [];
  const containers = choice.audioOnly ? AUDIO_CONTAINERS : VIDEO_CONTAINERS;

  const qualityLabel = (q: Quality) => {
    const name = q === 'best' ? t('quality.best') : q === 'worst' ? t('quality.worst') : `${q}p`;
    const size = formats ? sizeAt(formats, q) : null;
    return size ? `${name} (${formatBytes(size, lang)})` : name;
  };

  return (
    <fieldset className="options">
      <legend>{t('home.options')}</legend>
      <label className="toggle">
        <input
          type="checkbox"
          checked={choice.audioOnly}
          onChange={(e) => onChange({ ...choice, audioOnly: e.target.checked })}
        />
        <span>{t('home.audio_only')}</span>
      </label>
      {!choice.audioOnly && (
        <div className="field">
          <label htmlFor={`${id}-quality`}>{t('home.quality')}</label>
          <select
            id={`${id}-quality`}
            value={choice.quality}
            onChange={(e) => onChange({ ...choice, quality: e.target.value as Quality })}
          >
            {qualities.map((q) => (
              <option key={q} value={q}>
                {qualityLabel(q)}
              </option>
            ))}
          </select>
        </div>
      )}
      <div className="field">
        <label htmlFor={`${id}-container`}>{t('home.container')}</label>
        <select
          id={`${id}-container`}
          value={choice.audioOnly ? choice.audioContainer : choice.videoContainer}
          onChange={(e) =>
            onChange(
              choice.audioOnly
                ? { ...choice, audioContainer: e.target.value as AudioContainer }
                : { ...choice, videoContainer: e.target.value as VideoContainer },
            )
          }
        >
          {containers.map((c) => (
            <option key={c} value={c}>
              {c.toUpperCase()}
            </option>
          ))}
        </select>
      </div>
      {!choice.audioOnly && codecs.length > 1 && (
        <div className="field">
          <label htmlFor={`${id}-codec`}>{t('home.codec')}</label>
          <select
            id={`${id}-codec`}
            value={choice.codec}
            onChange={(e) => onChange({ ...choice, codec: e.target.value as Codec })}
          >
            {codecs.map((c) => (
              <option key={c} value={c}>
                {c === 'any' ? t('home.codec_any') : c.toUpperCase()}
              </option>
            ))}
          </select>
        </div>
      )}
      {languages.length > 1 && (
        <div className="field">
          <label htmlFor={`${id}-lang`}>{t('home.audio_language')}</label>
          <select
            id={`${id}-lang`}
            value={choice.audioLanguage}
            onChange={(e) => onChange({ ...choice, audioLanguage: e.target.value })}
          >
            <option value="">{t('home.audio_language_default')}</option>
            {languages.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </div>
      )}
    </fieldset>
  );
}
