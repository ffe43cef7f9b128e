import Foundation

/// The editing tools built into the suite, selectable by id in experiments and on the command line:
/// the instruction editor (`instruct`) and the relighting tool (`relight`).
let builtInEditingTools: [any EditingTool] = [InstructionEditor(), RelightingTool()]
