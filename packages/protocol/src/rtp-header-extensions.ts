// The RTP header extensions Colloquy knows, by their URIs (RFC 8285 negotiates them by URI, then
// packets carry a per-session id). One table for the SFU, the test clients and the load tool; it is
// not part of the signaling messages, but both ends of every peer connection Colloquy makes use it.

export const RTP_HEADER_EXTENSIONS = {
  /** RFC 8843: which m-line (BUNDLE) a packet belongs to. */
  mid: 'urn:ietf:params:rtp-hdrext:sdes:mid',
  /** Send time for the receiver's bandwidth estimate (REMB). */
  absSendTime: 'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  /** RFC 6464: the audio level of the packet. */
  audioLevel: 'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  /** 3GPP TS 26.114 coordination of video orientation (CVO). */
  videoOrientation: 'urn:3gpp:video-orientation',
  /** Screen or camera content, for the receiver's decoder settings. */
  videoContentType: 'http://www.webrtc.org/experiments/rtp-hdrext/video-content-type',
  /** Transport-wide sequence numbers (transport-cc), which the SFU never forwards. */
  transportCc: 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  /** Simulcast (RFC 8852): which encoding a publisher's packet belongs to. */
  rid: 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  /** Simulcast (RFC 8852): the encoding whose repair (RTX) a packet is. */
  repairedRid: 'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
} as const;
