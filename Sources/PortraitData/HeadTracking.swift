import Foundation
import Head

/// Runs the ``HeadTracker`` on a prepared clip: synthetic clips with their true camera, real ones
/// with the nominal portrait camera of the clip's size (ARCHITECTURE.md §4).
public enum HeadTracking {
    public static func track(clip: Clip, directory: URL? = nil, maxFrames: Int? = nil, tracker: HeadTracker = HeadTracker()) throws -> HeadTracker.Result {
        let n = min(maxFrames ?? clip.frameCount, clip.frameCount)
        var camera = PinholeCamera.portrait(width: clip.metadata.width, height: clip.metadata.height)
        if let c = clip.metadata.camera {
            camera = PinholeCamera(fx: Float(c.fx), fy: Float(c.fy), cx: Float(c.cx), cy: Float(c.cy),
                                   width: clip.metadata.width, height: clip.metadata.height)
        }
        let landmarks = clip.landmarks.prefix(n).map { $0?.map { SIMD2<Float>(Float($0.x), Float($0.y)) } }
        return tracker.track(model: HeadModel(), landmarks: Array(landmarks), camera: camera)
    }
}
