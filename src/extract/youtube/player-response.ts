/**
 * The parts of an InnerTube /player response this engine reads. Every
 * field is optional: field masks, client differences and error answers
 * (an empty `{}` for a non-existent id) all drop parts of it.
 */
export interface RawText {
  simpleText?: string;
  runs?: { text?: string }[];
}

export interface RawThumbnail {
  url: string;
  width?: number;
  height?: number;
}

export interface RawFormat {
  itag: number;
  url?: string;
  signatureCipher?: string;
  cipher?: string;
  mimeType?: string;
  bitrate?: number;
  averageBitrate?: number;
  width?: number;
  height?: number;
  fps?: number;
  contentLength?: string;
  approxDurationMs?: string;
  qualityLabel?: string;
  audioQuality?: string;
  audioTrack?: { id?: string; displayName?: string; audioIsDefault?: boolean };
  isDrc?: boolean;
  drmFamilies?: string[];
}

export interface RawStreamingData {
  formats?: RawFormat[];
  adaptiveFormats?: RawFormat[];
  hlsManifestUrl?: string;
  dashManifestUrl?: string;
}

export interface RawPlayabilityStatus {
  status?: string;
  reason?: string;
  reasonTitle?: string;
  messages?: string[];
  desktopLegacyAgeGateReason?: number;
  errorScreen?: {
    playerErrorMessageRenderer?: { reason?: RawText; subreason?: RawText };
    [renderer: string]: unknown;
  };
  liveStreamability?: {
    liveStreamabilityRenderer?: {
      offlineSlate?: { liveStreamOfflineSlateRenderer?: { scheduledStartTime?: string } };
    };
  };
}

export interface RawVideoDetails {
  videoId?: string;
  title?: string;
  lengthSeconds?: string;
  keywords?: string[];
  channelId?: string;
  shortDescription?: string;
  thumbnail?: { thumbnails?: RawThumbnail[] };
  viewCount?: string;
  author?: string;
  isLive?: boolean;
  isUpcoming?: boolean;
}

export interface RawMicroformat {
  playerMicroformatRenderer?: {
    title?: RawText;
    description?: RawText;
    thumbnail?: { thumbnails?: RawThumbnail[] };
    lengthSeconds?: string;
    viewCount?: string;
    likeCount?: string;
    publishDate?: string;
    uploadDate?: string;
    ownerChannelName?: string;
    externalChannelId?: string;
  };
}

export interface RawCaptionTrack {
  baseUrl?: string;
  languageCode?: string;
  name?: RawText;
  kind?: string;
}

export interface RawPlayerResponse {
  playabilityStatus?: RawPlayabilityStatus;
  streamingData?: RawStreamingData;
  videoDetails?: RawVideoDetails;
  microformat?: RawMicroformat;
  captions?: { playerCaptionsTracklistRenderer?: { captionTracks?: RawCaptionTrack[] } };
}

export function textOf(t: RawText | undefined): string | undefined {
  if (!t) return undefined;
  return t.simpleText ?? t.runs?.map((r) => r.text ?? '').join('');
}
