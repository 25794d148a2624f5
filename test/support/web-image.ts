import { buildImage, type Image, type ImageSpec, type Layer } from '../../fixtures/index.js';

/** The labels a compliant web image carries under the ivoa profile, for an image called NAME. */
export function compliantLabels(name: string, version: string): Record<string, string> {
  return {
    'org.opencontainers.image.title': name,
    'org.opencontainers.image.description': `An image for the ${name.replace(/-me$/, '')} tests`,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.source': `https://example.org/${name}`,
    'org.opencontainers.image.licenses': 'BSD-3-Clause',
    'org.opencontainers.image.authors': 'ivoc tests',
    'org.opencontainers.image.documentation': `https://example.org/${name}/docs`,
    'net.ivoa.container.spec-version': '1.0.0',
    'net.ivoa.container.type': 'web',
    'net.ivoa.container.port': '8888',
    'net.ivoa.container.base-path': 'env:BASE_PATH',
    'net.ivoa.container.keywords': 'test',
    'net.ivoa.container.messengers': 'Optical',
  };
}

/** A compliant web image of LAYERS (a busybox base first): httpd on 8888 as uid 1000. */
export function compliantWebImage(
  layers: Layer[],
  labels: Record<string, string>,
  overrides: Partial<ImageSpec> = {},
): Image {
  return buildImage({
    layers,
    user: '1000:1000',
    ports: [8888],
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
    entrypoint: ['/bin/httpd', '-f', '-p', '8888'],
    labels,
    ...overrides,
  });
}
