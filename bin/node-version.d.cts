/** Types of node-version.cjs (plain CommonJS so that an old Node can run it). */
export declare const MIN_NODE_MAJOR: number;
export declare function nodeVersionProblem(version: string): string | undefined;
