/**
 * The Claude Desktop entry for an MCP behind the gateway: the `mcp-remote` stdio bridge with the
 * key in the Authorization header, from env. Printed by `plexmcp serve --demo` and shown by the
 * console's Connect page (browser-safe: no Node imports).
 */
export function claudeDesktopConfig(gatewayUrl: string, apiKey: string, serverName = 'plexmcp-everything') {
  const args = ['-y', 'mcp-remote@0.15.1', gatewayUrl, '--header', 'Authorization:${PLEXMCP_AUTH_HEADER}', '--transport', 'http-only'];
  if (gatewayUrl.startsWith('http://')) args.push('--allow-http');
  return {
    mcpServers: {
      [serverName]: {
        command: 'npx',
        args,
        // In env rather than args: Claude Desktop on Windows mangles spaces inside args.
        env: { PLEXMCP_AUTH_HEADER: `Bearer ${apiKey}` },
      },
    },
  };
}
