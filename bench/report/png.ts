// SVG to PNG with Debian's Chromium (already a test dependency): load the SVG in a page of the
// exact size and screenshot it. No image library needed.

import { launchChromium } from '@colloquy/testing/browser';

export async function svgToPng(svg: string, width: number, height: number): Promise<Buffer> {
  const browser = await launchChromium({ grantMedia: false });
  try {
    const { page } = await browser.newPage();
    await page.setViewportSize({ width, height });
    await page.setContent(`<!doctype html><html><body style="margin:0">${svg}</body></html>`);
    return await page.screenshot({ clip: { x: 0, y: 0, width, height }, type: 'png' });
  } finally {
    await browser.close();
  }
}
