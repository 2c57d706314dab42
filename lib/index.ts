export * from './lambda-defaults';
export * from './registry-tables';
export * from './credentials-key';
export * from './gateway-waf';
export * from './plex-api';
export * from './admin-api';
export * from './plexmcp-stack';
export * from './app';
